/* One rank of the Open MPI side of bench/allreduce.py: MPI_Allreduce of float32 buffers, in place, with the same
 * protocol as ffinfra/accept/allreduce_job.py (buffer = rank + 1, warm-up, barrier, timed calls, one JSON line per
 * size and rank).   mpicc -O2 -o allreduce_mpi allreduce_mpi.c
 *                   mpirun ... ./allreduce_mpi ITERS WARMUP SIZE_MIB...                                         */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (argc < 4) {
    if (rank == 0) fprintf(stderr, "usage: allreduce_mpi ITERS WARMUP SIZE_MIB...\n");
    MPI_Finalize();
    return 2;
  }
  const int iters = atoi(argv[1]), warmup = atoi(argv[2]);
  const float expect = (float)world * (float)(world + 1) / 2.0f;
  for (int a = 3; a < argc; ++a) {
    const double mib = atof(argv[a]);
    const size_t n = (size_t)(mib * (1 << 20)) / 4;
    float* x = malloc(n * sizeof(float));
    if (x == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
    int ok = 1;
    for (int w = 0; w < warmup; ++w) {
      for (size_t i = 0; i < n; ++i) x[i] = (float)(rank + 1);
      MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    for (size_t i = 0; i < n && warmup > 0; ++i) ok &= x[i] == expect;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    for (int it = 0; it < iters; ++it) MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    const double seconds = (MPI_Wtime() - t0) / iters;
    printf("{\"impl\": \"openmpi\", \"rank\": %d, \"mib\": %g, \"seconds\": %.6f, \"ok\": %s}\n", rank, mib, seconds,
           ok ? "true" : "false");
    fflush(stdout);
    free(x);
  }
  MPI_Finalize();
  return 0;
}
