/*
 * normalize — see normalize.h for the contract and docs/scope-guard.md for
 * the choices (what is folded, why digits stay digits).
 *
 * Three steps over one output buffer:
 *   1. decode UTF-8 (strictly: no overlongs, surrogates or values past
 *      U+10FFFF) and map each code point to at most as many ASCII bytes as
 *      it took in UTF-8, collapsing whitespace on the way (to two spaces
 *      where there were more than one, so step 3 sees word gaps; one
 *      space again at the end);
 *   2. letters written with symbols ("c@ncel", "a$$", "k!ll");
 *   3. spaced-out words joined, runs of three or more of one letter cut to
 *      one.
 * Every step writes no more than it reads, so the view never outgrows the
 * input and steps 2 and 3 work in place.
 */
#include "agent/normalize.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

struct fold_entry {
	uint32_t cp;
	char s[4];
};

/*
 * The tables below were generated from Unicode 14 data: NFKD with combining
 * marks removed, kept only where the result is ASCII letters or digits no
 * longer than the character's UTF-8 form; letters without a decomposition
 * (ø, ł, đ, ħ, æ, œ, þ ...) and the look-alike letters of other scripts were
 * added by hand.
 */
/* U+00C0..U+024F, two bytes per code point, " " = unmapped */
static const char fold_latin[] = "a a a a a a aec e e e e i i i i d n o o o o o   o u u u u y thss"
				 "a a a a a a aec e e e e i i i i d n o o o o o   o u u u u y thy "
				 "a a a a a a c c c c c c c c d d d d e e e e e e e e e e g g g g "
				 "g g g g h h h h i i i i i i i i i i ijijj j k k k l l l l l l   "
				 "  l l n n n n n n       o o o o o o oeoer r r r r r s s s s s s "
				 "s s t t t t t t u u u u u u u u u u u u w w y y y z z z z z z s "
				 "b b           c c   d             f f g       i k k l     n n o "
				 "o o     p p           t t t t u u   v y y z z                   "
				 "        dzdzdzljljljnjnjnja a i i o o u u u u u u u u u u   a a "
				 "a a         g g k k o o o o     j dzdzdzg g     n n a a         "
				 "a a a a e e e e i i i i o o o o r r r r u u u u s s t t     h h "
				 "  d         a a e e o o o o o o o o y y l n t j     a c c l t s "
				 "z     b u   e e j j   q r r y y ";
/* U+1E00..U+1EFF, two bytes per code point, " " = unmapped */
static const char fold_latin_ext[] =
    "a a b b b b b b c c d d d d d d d d d d e e e e e e e e e e f f "
    "g g h h h h h h h h h h i i i i k k k k k k l l l l l l l l m m "
    "m m m m n n n n n n n n o o o o o o o o p p p p r r r r r r r r "
    "s s s s s s s s s s t t t t t t t t u u u u u u u u u u v v v v "
    "w w w w w w w w w w x x x x y y z z z z z z h t w y   s s s ss  "
    "a a a a a a a a a a a a a a a a a a a a a a a a e e e e e e e e "
    "e e e e e e e e i i i i o o o o o o o o o o o o o o o o o o o o "
    "o o o o u u u u u u u u u u u u u u y y y y y y y y             ";
/* 683 sparse folds, sorted by code point */
static const struct fold_entry fold_sparse[] = {
    {0xA1, "i"},     {0xA2, "c"},     {0xA5, "y"},     {0xA9, "c"},	{0xAA, "a"},
    {0xAE, "r"},     {0xB2, "2"},     {0xB3, "3"},     {0xB4, "'"},	{0xB5, "u"},
    {0xB9, "1"},     {0xBA, "o"},     {0xD7, "x"},     {0x250, "a"},	{0x251, "a"},
    {0x252, "a"},    {0x253, "b"},    {0x255, "c"},    {0x256, "d"},	{0x257, "d"},
    {0x25B, "e"},    {0x25C, "e"},    {0x25F, "j"},    {0x260, "g"},	{0x261, "g"},
    {0x262, "g"},    {0x265, "h"},    {0x266, "h"},    {0x268, "i"},	{0x269, "i"},
    {0x26A, "i"},    {0x26B, "l"},    {0x26C, "l"},    {0x26D, "l"},	{0x271, "m"},
    {0x272, "n"},    {0x273, "n"},    {0x274, "n"},    {0x27C, "r"},	{0x27D, "r"},
    {0x27E, "r"},    {0x280, "r"},    {0x282, "s"},    {0x288, "t"},	{0x289, "u"},
    {0x28B, "v"},    {0x28F, "y"},    {0x290, "z"},    {0x291, "z"},	{0x299, "b"},
    {0x29C, "h"},    {0x29D, "j"},    {0x29F, "l"},    {0x2B0, "h"},	{0x2B2, "j"},
    {0x2B3, "r"},    {0x2B7, "w"},    {0x2B8, "y"},    {0x2BC, "'"},	{0x2E1, "l"},
    {0x2E2, "s"},    {0x2E3, "x"},    {0x37F, "j"},    {0x386, "a"},	{0x388, "e"},
    {0x389, "h"},    {0x38A, "i"},    {0x38C, "o"},    {0x38E, "y"},	{0x391, "a"},
    {0x392, "b"},    {0x395, "e"},    {0x396, "z"},    {0x397, "h"},	{0x399, "i"},
    {0x39A, "k"},    {0x39C, "m"},    {0x39D, "n"},    {0x39F, "o"},	{0x3A1, "p"},
    {0x3A4, "t"},    {0x3A5, "y"},    {0x3A7, "x"},    {0x3AC, "a"},	{0x3AD, "e"},
    {0x3AE, "n"},    {0x3AF, "i"},    {0x3B1, "a"},    {0x3B2, "b"},	{0x3B5, "e"},
    {0x3B7, "n"},    {0x3B9, "i"},    {0x3BA, "k"},    {0x3BD, "v"},	{0x3BF, "o"},
    {0x3C1, "p"},    {0x3C4, "t"},    {0x3C5, "u"},    {0x3C7, "x"},	{0x3C9, "w"},
    {0x3CA, "i"},    {0x3CB, "u"},    {0x3CC, "o"},    {0x3CD, "u"},	{0x3CE, "w"},
    {0x3F2, "c"},    {0x3F3, "j"},    {0x3F9, "c"},    {0x401, "e"},	{0x405, "s"},
    {0x406, "i"},    {0x407, "i"},    {0x408, "j"},    {0x40C, "k"},	{0x410, "a"},
    {0x412, "b"},    {0x415, "e"},    {0x419, "n"},    {0x41A, "k"},	{0x41C, "m"},
    {0x41D, "h"},    {0x41E, "o"},    {0x420, "p"},    {0x421, "c"},	{0x422, "t"},
    {0x423, "y"},    {0x425, "x"},    {0x42C, "b"},    {0x430, "a"},	{0x432, "b"},
    {0x433, "r"},    {0x435, "e"},    {0x439, "n"},    {0x43A, "k"},	{0x43C, "m"},
    {0x43D, "h"},    {0x43E, "o"},    {0x43F, "n"},    {0x440, "p"},	{0x441, "c"},
    {0x442, "t"},    {0x443, "y"},    {0x445, "x"},    {0x44C, "b"},	{0x451, "e"},
    {0x455, "s"},    {0x456, "i"},    {0x457, "i"},    {0x458, "j"},	{0x45C, "k"},
    {0x4AE, "y"},    {0x4AF, "y"},    {0x4BA, "h"},    {0x4BB, "h"},	{0x4C0, "i"},
    {0x4CF, "l"},    {0x500, "d"},    {0x501, "d"},    {0x51A, "q"},	{0x51B, "q"},
    {0x51C, "w"},    {0x51D, "w"},    {0x1D00, "a"},   {0x1D04, "c"},	{0x1D05, "d"},
    {0x1D07, "e"},   {0x1D0A, "j"},   {0x1D0B, "k"},   {0x1D0D, "m"},	{0x1D0F, "o"},
    {0x1D18, "p"},   {0x1D1B, "t"},   {0x1D1C, "u"},   {0x1D20, "v"},	{0x1D21, "w"},
    {0x1D22, "z"},   {0x1D2C, "a"},   {0x1D2E, "b"},   {0x1D30, "d"},	{0x1D31, "e"},
    {0x1D33, "g"},   {0x1D34, "h"},   {0x1D35, "i"},   {0x1D36, "j"},	{0x1D37, "k"},
    {0x1D38, "l"},   {0x1D39, "m"},   {0x1D3A, "n"},   {0x1D3C, "o"},	{0x1D3E, "p"},
    {0x1D3F, "r"},   {0x1D40, "t"},   {0x1D41, "u"},   {0x1D42, "w"},	{0x1D43, "a"},
    {0x1D47, "b"},   {0x1D48, "d"},   {0x1D49, "e"},   {0x1D4D, "g"},	{0x1D4F, "k"},
    {0x1D50, "m"},   {0x1D52, "o"},   {0x1D56, "p"},   {0x1D57, "t"},	{0x1D58, "u"},
    {0x1D5B, "v"},   {0x1D62, "i"},   {0x1D63, "r"},   {0x1D64, "u"},	{0x1D65, "v"},
    {0x2010, "-"},   {0x2011, "-"},   {0x2012, "-"},   {0x2013, "-"},	{0x2014, "-"},
    {0x2015, "-"},   {0x2018, "'"},   {0x2019, "'"},   {0x201A, "'"},	{0x201B, "'"},
    {0x201C, "\""},  {0x201D, "\""},  {0x201E, "\""},  {0x201F, "\""},	{0x2024, "."},
    {0x2025, ".."},  {0x2026, "..."}, {0x2032, "'"},   {0x2033, "\""},	{0x2035, "'"},
    {0x2044, "/"},   {0x2070, "0"},   {0x2071, "i"},   {0x2074, "4"},	{0x2075, "5"},
    {0x2076, "6"},   {0x2077, "7"},   {0x2078, "8"},   {0x2079, "9"},	{0x207F, "n"},
    {0x2080, "0"},   {0x2081, "1"},   {0x2082, "2"},   {0x2083, "3"},	{0x2084, "4"},
    {0x2085, "5"},   {0x2086, "6"},   {0x2087, "7"},   {0x2088, "8"},	{0x2089, "9"},
    {0x2090, "a"},   {0x2091, "e"},   {0x2092, "o"},   {0x2093, "x"},	{0x2095, "h"},
    {0x2096, "k"},   {0x2097, "l"},   {0x2098, "m"},   {0x2099, "n"},	{0x209A, "p"},
    {0x209B, "s"},   {0x209C, "t"},   {0x20AC, "e"},   {0x2100, "ac"},	{0x2101, "as"},
    {0x2102, "c"},   {0x2103, "c"},   {0x2105, "co"},  {0x2106, "cu"},	{0x2109, "f"},
    {0x210A, "g"},   {0x210B, "h"},   {0x210C, "h"},   {0x210D, "h"},	{0x210E, "h"},
    {0x2110, "i"},   {0x2111, "i"},   {0x2112, "l"},   {0x2113, "l"},	{0x2115, "n"},
    {0x2116, "no"},  {0x2119, "p"},   {0x211A, "q"},   {0x211B, "r"},	{0x211C, "r"},
    {0x211D, "r"},   {0x2120, "sm"},  {0x2121, "tel"}, {0x2122, "tm"},	{0x2124, "z"},
    {0x2128, "z"},   {0x212A, "k"},   {0x212B, "a"},   {0x212C, "b"},	{0x212D, "c"},
    {0x212F, "e"},   {0x2130, "e"},   {0x2131, "f"},   {0x2133, "m"},	{0x2134, "o"},
    {0x2139, "i"},   {0x213B, "fax"}, {0x2145, "d"},   {0x2146, "d"},	{0x2147, "e"},
    {0x2148, "i"},   {0x2149, "j"},   {0x2150, "17"},  {0x2151, "19"},	{0x2152, "110"},
    {0x2153, "13"},  {0x2154, "23"},  {0x2155, "15"},  {0x2156, "25"},	{0x2157, "35"},
    {0x2158, "45"},  {0x2159, "16"},  {0x215A, "56"},  {0x215B, "18"},	{0x215C, "38"},
    {0x215D, "58"},  {0x215E, "78"},  {0x215F, "1"},   {0x2160, "i"},	{0x2161, "ii"},
    {0x2162, "iii"}, {0x2163, "iv"},  {0x2164, "v"},   {0x2165, "vi"},	{0x2166, "vii"},
    {0x2168, "ix"},  {0x2169, "x"},   {0x216A, "xi"},  {0x216B, "xii"}, {0x216C, "l"},
    {0x216D, "c"},   {0x216E, "d"},   {0x216F, "m"},   {0x2170, "i"},	{0x2171, "ii"},
    {0x2172, "iii"}, {0x2173, "iv"},  {0x2174, "v"},   {0x2175, "vi"},	{0x2176, "vii"},
    {0x2178, "ix"},  {0x2179, "x"},   {0x217A, "xi"},  {0x217B, "xii"}, {0x217C, "l"},
    {0x217D, "c"},   {0x217E, "d"},   {0x217F, "m"},   {0x2189, "03"},	{0x2212, "-"},
    {0x2215, "/"},   {0x2460, "1"},   {0x2461, "2"},   {0x2462, "3"},	{0x2463, "4"},
    {0x2464, "5"},   {0x2465, "6"},   {0x2466, "7"},   {0x2467, "8"},	{0x2468, "9"},
    {0x2469, "10"},  {0x246A, "11"},  {0x246B, "12"},  {0x246C, "13"},	{0x246D, "14"},
    {0x246E, "15"},  {0x246F, "16"},  {0x2470, "17"},  {0x2471, "18"},	{0x2472, "19"},
    {0x2473, "20"},  {0x2474, "1"},   {0x2475, "2"},   {0x2476, "3"},	{0x2477, "4"},
    {0x2478, "5"},   {0x2479, "6"},   {0x247A, "7"},   {0x247B, "8"},	{0x247C, "9"},
    {0x247D, "10"},  {0x247E, "11"},  {0x247F, "12"},  {0x2480, "13"},	{0x2481, "14"},
    {0x2482, "15"},  {0x2483, "16"},  {0x2484, "17"},  {0x2485, "18"},	{0x2486, "19"},
    {0x2487, "20"},  {0x2488, "1"},   {0x2489, "2"},   {0x248A, "3"},	{0x248B, "4"},
    {0x248C, "5"},   {0x248D, "6"},   {0x248E, "7"},   {0x248F, "8"},	{0x2490, "9"},
    {0x2491, "10"},  {0x2492, "11"},  {0x2493, "12"},  {0x2494, "13"},	{0x2495, "14"},
    {0x2496, "15"},  {0x2497, "16"},  {0x2498, "17"},  {0x2499, "18"},	{0x249A, "19"},
    {0x249B, "20"},  {0x249C, "a"},   {0x249D, "b"},   {0x249E, "c"},	{0x249F, "d"},
    {0x24A0, "e"},   {0x24A1, "f"},   {0x24A2, "g"},   {0x24A3, "h"},	{0x24A4, "i"},
    {0x24A5, "j"},   {0x24A6, "k"},   {0x24A7, "l"},   {0x24A8, "m"},	{0x24A9, "n"},
    {0x24AA, "o"},   {0x24AB, "p"},   {0x24AC, "q"},   {0x24AD, "r"},	{0x24AE, "s"},
    {0x24AF, "t"},   {0x24B0, "u"},   {0x24B1, "v"},   {0x24B2, "w"},	{0x24B3, "x"},
    {0x24B4, "y"},   {0x24B5, "z"},   {0x24B6, "a"},   {0x24B7, "b"},	{0x24B8, "c"},
    {0x24B9, "d"},   {0x24BA, "e"},   {0x24BB, "f"},   {0x24BC, "g"},	{0x24BD, "h"},
    {0x24BE, "i"},   {0x24BF, "j"},   {0x24C0, "k"},   {0x24C1, "l"},	{0x24C2, "m"},
    {0x24C3, "n"},   {0x24C4, "o"},   {0x24C5, "p"},   {0x24C6, "q"},	{0x24C7, "r"},
    {0x24C8, "s"},   {0x24C9, "t"},   {0x24CA, "u"},   {0x24CB, "v"},	{0x24CC, "w"},
    {0x24CD, "x"},   {0x24CE, "y"},   {0x24CF, "z"},   {0x24D0, "a"},	{0x24D1, "b"},
    {0x24D2, "c"},   {0x24D3, "d"},   {0x24D4, "e"},   {0x24D5, "f"},	{0x24D6, "g"},
    {0x24D7, "h"},   {0x24D8, "i"},   {0x24D9, "j"},   {0x24DA, "k"},	{0x24DB, "l"},
    {0x24DC, "m"},   {0x24DD, "n"},   {0x24DE, "o"},   {0x24DF, "p"},	{0x24E0, "q"},
    {0x24E1, "r"},   {0x24E2, "s"},   {0x24E3, "t"},   {0x24E4, "u"},	{0x24E5, "v"},
    {0x24E6, "w"},   {0x24E7, "x"},   {0x24E8, "y"},   {0x24E9, "z"},	{0x24EA, "0"},
    {0x2776, "1"},   {0x2777, "2"},   {0x2778, "3"},   {0x2779, "4"},	{0x277A, "5"},
    {0x277B, "6"},   {0x277C, "7"},   {0x277D, "8"},   {0x277E, "9"},	{0x277F, "10"},
    {0x2780, "1"},   {0x2781, "2"},   {0x2782, "3"},   {0x2783, "4"},	{0x2784, "5"},
    {0x2785, "6"},   {0x2786, "7"},   {0x2787, "8"},   {0x2788, "9"},	{0x2789, "10"},
    {0x278A, "1"},   {0x278B, "2"},   {0x278C, "3"},   {0x278D, "4"},	{0x278E, "5"},
    {0x278F, "6"},   {0x2790, "7"},   {0x2791, "8"},   {0x2792, "9"},	{0x2793, "10"},
    {0xA730, "f"},   {0xA731, "s"},   {0xA7AF, "q"},   {0xFB00, "ff"},	{0xFB01, "fi"},
    {0xFB02, "fl"},  {0xFB03, "ffi"}, {0xFB04, "ffl"}, {0xFB05, "st"},	{0xFB06, "st"},
    {0xFE58, "-"},   {0xFE63, "-"},   {0x1F100, "0"},  {0x1F101, "0"},	{0x1F102, "1"},
    {0x1F103, "2"},  {0x1F104, "3"},  {0x1F105, "4"},  {0x1F106, "5"},	{0x1F107, "6"},
    {0x1F108, "7"},  {0x1F109, "8"},  {0x1F10A, "9"},  {0x1F110, "a"},	{0x1F111, "b"},
    {0x1F112, "c"},  {0x1F113, "d"},  {0x1F114, "e"},  {0x1F115, "f"},	{0x1F116, "g"},
    {0x1F117, "h"},  {0x1F118, "i"},  {0x1F119, "j"},  {0x1F11A, "k"},	{0x1F11B, "l"},
    {0x1F11C, "m"},  {0x1F11D, "n"},  {0x1F11E, "o"},  {0x1F11F, "p"},	{0x1F120, "q"},
    {0x1F121, "r"},  {0x1F122, "s"},  {0x1F123, "t"},  {0x1F124, "u"},	{0x1F125, "v"},
    {0x1F126, "w"},  {0x1F127, "x"},  {0x1F128, "y"},  {0x1F129, "z"},	{0x1F12A, "s"},
    {0x1F12B, "c"},  {0x1F12C, "r"},  {0x1F12D, "cd"}, {0x1F12E, "wz"}, {0x1F130, "a"},
    {0x1F131, "b"},  {0x1F132, "c"},  {0x1F133, "d"},  {0x1F134, "e"},	{0x1F135, "f"},
    {0x1F136, "g"},  {0x1F137, "h"},  {0x1F138, "i"},  {0x1F139, "j"},	{0x1F13A, "k"},
    {0x1F13B, "l"},  {0x1F13C, "m"},  {0x1F13D, "n"},  {0x1F13E, "o"},	{0x1F13F, "p"},
    {0x1F140, "q"},  {0x1F141, "r"},  {0x1F142, "s"},  {0x1F143, "t"},	{0x1F144, "u"},
    {0x1F145, "v"},  {0x1F146, "w"},  {0x1F147, "x"},  {0x1F148, "y"},	{0x1F149, "z"},
    {0x1F150, "a"},  {0x1F151, "b"},  {0x1F152, "c"},  {0x1F153, "d"},	{0x1F154, "e"},
    {0x1F155, "f"},  {0x1F156, "g"},  {0x1F157, "h"},  {0x1F158, "i"},	{0x1F159, "j"},
    {0x1F15A, "k"},  {0x1F15B, "l"},  {0x1F15C, "m"},  {0x1F15D, "n"},	{0x1F15E, "o"},
    {0x1F15F, "p"},  {0x1F160, "q"},  {0x1F161, "r"},  {0x1F162, "s"},	{0x1F163, "t"},
    {0x1F164, "u"},  {0x1F165, "v"},  {0x1F166, "w"},  {0x1F167, "x"},	{0x1F168, "y"},
    {0x1F169, "z"},  {0x1F170, "a"},  {0x1F171, "b"},  {0x1F172, "c"},	{0x1F173, "d"},
    {0x1F174, "e"},  {0x1F175, "f"},  {0x1F176, "g"},  {0x1F177, "h"},	{0x1F178, "i"},
    {0x1F179, "j"},  {0x1F17A, "k"},  {0x1F17B, "l"},  {0x1F17C, "m"},	{0x1F17D, "n"},
    {0x1F17E, "o"},  {0x1F17F, "p"},  {0x1F180, "q"},  {0x1F181, "r"},	{0x1F182, "s"},
    {0x1F183, "t"},  {0x1F184, "u"},  {0x1F185, "v"},  {0x1F186, "w"},	{0x1F187, "x"},
    {0x1F188, "y"},  {0x1F189, "z"},  {0x1F1E6, "a"},  {0x1F1E7, "b"},	{0x1F1E8, "c"},
    {0x1F1E9, "d"},  {0x1F1EA, "e"},  {0x1F1EB, "f"},  {0x1F1EC, "g"},	{0x1F1ED, "h"},
    {0x1F1EE, "i"},  {0x1F1EF, "j"},  {0x1F1F0, "k"},  {0x1F1F1, "l"},	{0x1F1F2, "m"},
    {0x1F1F3, "n"},  {0x1F1F4, "o"},  {0x1F1F5, "p"},  {0x1F1F6, "q"},	{0x1F1F7, "r"},
    {0x1F1F8, "s"},  {0x1F1F9, "t"},  {0x1F1FA, "u"},  {0x1F1FB, "v"},	{0x1F1FC, "w"},
    {0x1F1FD, "x"},  {0x1F1FE, "y"},  {0x1F1FF, "z"},
};

/* Mathematical Greek (U+1D6A8.., 58 per style) to the Latin letter it looks like. */
static const char fold_math_greek[] = "ab  ezh ik mn o p  ty x   ab  e n ik uv o p  tu x w e k p ";

static bool is_invisible(uint32_t cp)
{
	return cp == 0xAD || cp == 0x34F || cp == 0x61C || cp == 0x115F || cp == 0x1160 ||
	       cp == 0x17B4 || cp == 0x17B5 || (cp >= 0x180B && cp <= 0x180F) ||
	       (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2060 && cp <= 0x206F) || cp == 0x3164 || (cp >= 0xFE00 && cp <= 0xFE0F) ||
	       cp == 0xFEFF || cp == 0xFFA0 || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
	       (cp >= 0x1BCA0 && cp <= 0x1BCA3) || (cp >= 0x1D173 && cp <= 0x1D17A) ||
	       (cp >= 0xE0000 && cp <= 0xE007F) || (cp >= 0xE0100 && cp <= 0xE01EF) ||
	       /* combining marks: "é" written as e + U+0301, and "Zalgo" stacks */
	       (cp >= 0x300 && cp <= 0x36F) || (cp >= 0x483 && cp <= 0x489) ||
	       (cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) ||
	       (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE20 && cp <= 0xFE2F) ||
	       /* emoji skin tones */
	       (cp >= 0x1F3FB && cp <= 0x1F3FF);
}

static bool is_space(uint32_t cp)
{
	return cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
	       cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0x2800;
}

static const char *fold_lookup(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(fold_sparse) / sizeof(fold_sparse[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (fold_sparse[mid].cp == cp)
			return fold_sparse[mid].s;
		if (fold_sparse[mid].cp < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A two-byte slot of a dense table: "e ", "ae", or "  " (not folded). */
static int dense(const char *slot, char *buf)
{
	if (slot[0] == ' ')
		return -1;
	buf[0] = slot[0];
	if (slot[1] == ' ')
		return 1;
	buf[1] = slot[1];
	return 2;
}

/*
 * Folds one non-ASCII code point into buf. Returns the number of bytes
 * written (0: dropped), never more than the code point's UTF-8 length.
 */
static int fold_cp(uint32_t cp, char *buf, struct normalize_info *info)
{
	const char *s;
	int n = -1;

	if (is_invisible(cp)) {
		info->dropped++;
		return 0;
	}
	if (cp <= 0x9F) { /* C1 controls */
		info->controls++;
		return 0;
	}
	if (is_space(cp)) {
		buf[0] = ' ';
		return 1;
	}
	if (cp >= 0xFF01 && cp <= 0xFF5E) { /* fullwidth ASCII */
		char c = (char)(cp - 0xFF01 + 0x21);

		buf[0] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		n = 1;
	} else if (cp >= 0xC0 && cp <= 0x24F) {
		n = dense(&fold_latin[(cp - 0xC0) * 2], buf);
	} else if (cp >= 0x1E00 && cp <= 0x1EFF) {
		n = dense(&fold_latin_ext[(cp - 0x1E00) * 2], buf);
	} else if (cp >= 0x1D400 && cp <= 0x1D6A3) { /* math letters, 52 per style */
		buf[0] = (char)('a' + (cp - 0x1D400) % 52 % 26);
		n = 1;
	} else if (cp == 0x1D6A4 || cp == 0x1D6A5) { /* dotless i, j */
		buf[0] = cp == 0x1D6A4 ? 'i' : 'j';
		n = 1;
	} else if (cp >= 0x1D6A8 && cp <= 0x1D7C9) {
		char c = fold_math_greek[(cp - 0x1D6A8) % 58];

		if (c != ' ') {
			buf[0] = c;
			n = 1;
		}
	} else if (cp >= 0x1D7CE && cp <= 0x1D7FF) { /* math digits, 10 per style */
		buf[0] = (char)('0' + (cp - 0x1D7CE) % 10);
		n = 1;
	} else if (cp >= 0x2B9 && cp <= 0x2FF && !fold_lookup(cp)) {
		/* spacing modifier symbols (ˆ ˜ ˚ ...) carry no letter */
		info->dropped++;
		return 0;
	}
	if (n < 0 && (s = fold_lookup(cp)) != NULL) {
		n = (int)strlen(s);
		memcpy(buf, s, (size_t)n);
	}
	if (n < 0) {
		/* Anything else (other scripts, emoji, symbols) separates words. */
		buf[0] = ' ';
		return 1;
	}
	info->folded++;
	return n;
}

/*
 * Decodes one UTF-8 sequence at p (avail bytes). Returns its length and sets
 * *cp, or 0 when the bytes there are not valid UTF-8.
 */
static size_t utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp)
{
	unsigned char b = p[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need, i;
	uint32_t v;

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b >= 0xC2 && b <= 0xDF) {
		need = 1;
		v = b & 0x1F;
	} else if (b >= 0xE0 && b <= 0xEF) {
		need = 2;
		v = b & 0x0F;
		if (b == 0xE0)
			lo = 0xA0; /* no overlongs */
		else if (b == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (b >= 0xF0 && b <= 0xF4) {
		need = 3;
		v = b & 0x07;
		if (b == 0xF0)
			lo = 0x90;
		else if (b == 0xF4)
			hi = 0x8F; /* nothing past U+10FFFF */
	} else {
		return 0;
	}
	if (avail < need + 1)
		return 0;
	for (i = 1; i <= need; i++) {
		unsigned char c = p[i];

		if (c < (i == 1 ? lo : 0x80) || c > (i == 1 ? hi : 0xBF))
			return 0;
		v = (v << 6) | (c & 0x3F);
	}
	*cp = v;
	return need + 1;
}

enum { CL_LETTER = 1, CL_DIGIT = 2, CL_SEP = 4 };

/* Classes of view bytes, for the passes below. */
static const uint8_t view_class[256] = {
    ['a' ... 'z'] = CL_LETTER,
    ['0' ... '9'] = CL_DIGIT,
    [' '] = CL_SEP,
    ['.'] = CL_SEP,
    ['-'] = CL_SEP,
    ['_'] = CL_SEP,
    ['*'] = CL_SEP,
    [','] = CL_SEP,
    ['~'] = CL_SEP,
    ['/'] = CL_SEP,
    ['+'] = CL_SEP,
};

static inline bool is_letter(char c)
{
	return view_class[(unsigned char)c] & CL_LETTER;
}

static inline bool is_glyph(char c)
{
	return view_class[(unsigned char)c] & (CL_LETTER | CL_DIGIT);
}

static inline bool is_sep(char c)
{
	return view_class[(unsigned char)c] & CL_SEP;
}

static inline bool is_symbol(char c)
{
	return c == '@' || c == '$' || c == '|' || c == '!';
}

/*
 * '@' '$' '|' '!' standing in for letters: "c@ncel", "a$$", "b|ll", "k!ll".
 * Decided per run of such symbols, on what the run ends up next to, so that
 * normalising the view again changes nothing: '@' is always 'a'; '$' is 's'
 * next to a letter ("$50" stays a price); '|' is '1' next to a letter and
 * '!' between two ('1' is what patterns accept for i and l).
 */
static void fold_symbols(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t end = i;
		bool left, right;

		if (!is_symbol(s[i]))
			continue;
		while (end < n && is_symbol(s[end]))
			end++;
		left = i > 0 && is_letter(s[i - 1]);
		right = end < n && is_letter(s[end]);
		for (size_t k = i; k < end; k++)
			if (s[k] == '@')
				s[k] = 'a';
		/* '$' next to a letter becomes one; spread both ways along the run */
		for (size_t k = i; k < end; k++)
			if (s[k] == '$' && ((k == i ? left : is_letter(s[k - 1])) ||
					    (k + 1 == end ? right : is_letter(s[k + 1]))))
				s[k] = 's';
		for (size_t k = end; k-- > i;)
			if (s[k] == '$' && (k + 1 == end ? right : is_letter(s[k + 1])))
				s[k] = 's';
		for (size_t k = i; k < end; k++) {
			bool before = k == i ? left : is_letter(s[k - 1]);
			bool after = k + 1 == end ? right : is_letter(s[k + 1]);

			if ((s[k] == '|' && (before || after)) || (s[k] == '!' && before && after))
				s[k] = '1';
		}
		i = end;
	}
}

/* A letter or digit standing alone between separators. */
static inline bool single_at(const char *s, size_t n, size_t i)
{
	return is_glyph(s[i]) && (i == 0 || is_sep(s[i - 1])) && (i + 1 == n || is_sep(s[i + 1]));
}

/*
 * "c a n c e l", "c.a.n.c.e.l", "c - a - n": three or more single letters or
 * digits, separated each time by the same one to three separator bytes,
 * become one word. Returns the new length.
 */
static size_t join_spaced(char *s, size_t n, size_t *joined)
{
	size_t r = 0, w = 0;

	while (r < n) {
		if (single_at(s, n, r)) {
			size_t k = 0, count = 1, last = r;

			while (r + 1 + k < n && k < 3 && is_sep(s[r + 1 + k]))
				k++;
			if (k > 0 && r + 1 + k < n && single_at(s, n, r + 1 + k)) {
				const char *sep = s + r + 1;

				last = r + 1 + k;
				count = 2;
				while (last + 1 + k < n && memcmp(s + last + 1, sep, k) == 0 &&
				       single_at(s, n, last + 1 + k)) {
					last += 1 + k;
					count++;
				}
			}
			if (count >= 3) {
				for (size_t p = r; p <= last; p += 1 + k)
					s[w++] = s[p];
				r = last + 1;
				(*joined)++;
				continue;
			}
		}
		s[w++] = s[r++];
	}
	return w;
}

/*
 * A hyphen inside a word goes ("can-cel", "wi-fi", "e-mail"); between digits
 * it stays (card numbers, dates). Then "cancelllll", "maaanager": three or
 * more of one letter become one. In that order, so that a run a hyphen
 * joins ("a-aa") is cut too.
 */
static size_t squeeze_runs(char *s, size_t n)
{
	size_t r, w = 0;

	for (r = 0; r < n; r++) {
		if (s[r] == '-' && w > 0 && is_letter(s[w - 1]) && r + 1 < n && is_letter(s[r + 1]))
			continue;
		s[w++] = s[r];
	}
	n = w;
	for (r = 0, w = 0; r < n;) {
		char c = s[r];

		if (is_letter(c) && r + 2 < n && s[r + 1] == c && s[r + 2] == c) {
			while (r < n && s[r] == c)
				r++;
			s[w++] = c;
			continue;
		}
		s[w++] = s[r++];
	}
	return w;
}

/*
 * Two spaces (kept from step 1 for the join) become one, except between two
 * single letters or digits the join left apart ("n  y x"): one space there
 * would make them a run the next normalisation joins, and the view must
 * not change when normalised again.
 */
static size_t single_spaces(char *s, size_t n)
{
	size_t w = 0;

	for (size_t r = 0; r < n; r++) {
		if (s[r] == ' ' && w >= 2 && s[w - 1] == ' ') {
			bool lone_before = is_glyph(s[w - 2]) && (w == 2 || is_sep(s[w - 3]));
			bool lone_after = r + 1 < n && single_at(s, n, r + 1);

			if (!(lone_before && lone_after))
				continue;
		}
		s[w++] = s[r];
	}
	return w;
}

/* ASCII to the view: lower case, whitespace to ' ', 0 for a control byte. */
static inline char ascii_view(unsigned char b)
{
	if (b >= 'A' && b <= 'Z')
		return (char)(b + 32);
	if (b >= 0x20 && b < 0x7F)
		return (char)b;
	if (b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r')
		return ' ';
	return 0;
}

int normalize_text(const char *in, size_t len, char *out, size_t cap, struct normalize_info *info)
{
	struct normalize_info scratch;
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, n = 0;
	/* what the later steps will have to do, so they run only when needed */
	bool symbols = false, single = false, pending = false, squeeze = false, wide = false;

	if (!info)
		info = &scratch;
	memset(info, 0, sizeof(*info));
	if (!in || !out || cap == 0)
		return -EINVAL;
	out[0] = '\0';
	if (len > NORMALIZE_MAX_BYTES)
		return -E2BIG;
	if (cap < len + 1)
		return -ENOBUFS; /* the view can be as long as the input */
	while (i < len) {
		unsigned char b = p[i];
		char buf[4];
		int k = 1;
		uint32_t cp;
		size_t used;

		if (b < 0x80) {
			i++;
			buf[0] = ascii_view(b);
			if (!buf[0]) {
				info->controls++;
				info->nul += b == 0;
				continue;
			}
		} else if ((used = utf8_decode(p + i, len - i, &cp)) == 0) {
			info->invalid++;
			i++;
			buf[0] = ' ';
		} else {
			i += used;
			k = fold_cp(cp, buf, info);
		}
		for (int j = 0; j < k; j++) {
			char c = buf[j];

			/* Whitespace collapses, but to two spaces where there were
			 * two or more, until the join below: "s h o w  y o u r"
			 * is two spaced-out words, not one. */
			if (c == ' ' &&
			    (n == 0 || (out[n - 1] == ' ' && n >= 2 && out[n - 2] == ' ')))
				continue;
			if (c == ' ' && out[n - 1] == ' ')
				wide = true;
			if (is_sep(c)) {
				single |= pending;
				squeeze |= c == '-';
			} else if (is_symbol(c)) {
				symbols = true;
			} else if (is_letter(c) && n >= 2 && out[n - 1] == c && out[n - 2] == c) {
				squeeze = true;
			}
			/* a letter or digit standing alone between separators */
			pending = !is_sep(c) && (n == 0 || is_sep(out[n - 1]));
			out[n++] = c;
		}
	}
	single |= pending;
	while (n > 0 && out[n - 1] == ' ')
		n--;
	if (symbols) {
		fold_symbols(out, n);
		single = true; /* "c @ n" is spaced out too */
	}
	/* squeezed before joining too: "h hhh h" is "h h h", which is "h" */
	if (squeeze || single)
		n = squeeze_runs(out, n);
	if (single) {
		size_t joined = info->joined;

		n = join_spaced(out, n, &info->joined);
		if (info->joined > joined) /* "a a a" joins into a run */
			n = squeeze_runs(out, n);
	}
	if (wide)
		n = single_spaces(out, n);
	out[n] = '\0';
	return (int)n;
}

bool normalize_is_binary(const struct normalize_info *info, size_t len)
{
	size_t bad;

	if (!info)
		return false;
	bad = info->invalid + info->controls;
	return info->nul > 0 || (bad > 0 && bad * 8 >= len);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t utf8_encode(uint32_t cp, char *buf)
{
	if (cp < 0x80) {
		buf[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		buf[0] = (char)(0xC0 | (cp >> 6));
		buf[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		buf[0] = (char)(0xE0 | (cp >> 12));
		buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		buf[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	buf[0] = (char)(0xF0 | (cp >> 18));
	buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	buf[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

int normalize_unescape(const char *in, size_t len, char *out, size_t cap)
{
	size_t i = 0, n = 0;

	if (!in || !out || cap == 0)
		return -EINVAL;
	out[0] = '\0';
	if (len >= (size_t)INT32_MAX)
		return -EINVAL;
	while (i < len) {
		char buf[4];
		size_t k = 1;

		buf[0] = in[i];
		if (in[i] == '\\' && i + 1 < len) {
			char c = in[i + 1];

			i += 2;
			if (c == 'u') {
				uint32_t cp = 0;
				size_t digits = 0;

				if (i >= len || in[i] != '{')
					return -EINVAL;
				for (i++; i < len && in[i] != '}'; i++, digits++) {
					int h = hex_value(in[i]);

					if (h < 0 || digits == 6)
						return -EINVAL;
					cp = cp << 4 | (uint32_t)h;
				}
				if (i >= len || digits == 0 || cp > 0x10FFFF ||
				    (cp >= 0xD800 && cp <= 0xDFFF))
					return -EINVAL;
				i++;
				k = utf8_encode(cp, buf);
			} else if (c == 'x') {
				int h1 = i < len ? hex_value(in[i]) : -1;
				int h2 = i + 1 < len ? hex_value(in[i + 1]) : -1;

				if (h1 < 0 || h2 < 0)
					return -EINVAL;
				buf[0] = (char)(h1 << 4 | h2);
				i += 2;
			} else if (c == 't' || c == 'n' || c == 'r' || c == '0' || c == '\\') {
				buf[0] = c == 't'   ? '\t'
					 : c == 'n' ? '\n'
					 : c == 'r' ? '\r'
					 : c == '0' ? '\0'
						    : '\\';
			} else {
				buf[1] = c;
				k = 2;
			}
		} else {
			i++;
		}
		if (n + k + 1 > cap) {
			out[0] = '\0';
			return -ENOBUFS;
		}
		memcpy(out + n, buf, k);
		n += k;
	}
	out[n] = '\0';
	return (int)n;
}
