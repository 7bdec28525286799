/* edgebox-eval: the sales-quality evaluation runner (evals/eval.h, docs/evals.md). */
#include "evals/eval.h"

int main(int argc, char **argv)
{
	return eval_main(argc, argv);
}
