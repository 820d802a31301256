/* The smallest workload: a static binary that exits 0. */
int main(void) { return 0; }
