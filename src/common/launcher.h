// What the launcher (mpirun, mpiexec, srun) told this process through its environment: the one
// place that reads those variables. Note [launcher variables]:
//
//   launcher        started by it when set        local rank                  ranks on this node
//   Open MPI        OMPI_COMM_WORLD_SIZE          OMPI_COMM_WORLD_LOCAL_RANK  OMPI_COMM_WORLD_LOCAL_SIZE
//   MPICH, Hydra    PMI_SIZE or MPI_LOCALNRANKS   MPI_LOCALRANKID             MPI_LOCALNRANKS
//   PMIx (srun)     PMIX_RANK                     SLURM_LOCALID               SLURM_NTASKS_PER_NODE
//
// Each column is searched top to bottom and the first variable set wins. Slurm's own
// variables alone do not make a process an MPI rank (an sbatch script's shell has them too).
#pragma once

namespace slimfit {

struct LaunchInfo {
  bool by_mpi = false;  // started by an MPI launcher: the ranks must form a communicator
  int local_rank = -1;  // this process's index among the ranks of its node (-1: not told)
  int local_size = -1;  // ranks on this node (-1: not told)
};

// Read from the environment once, on first use.
const LaunchInfo& launch_info();

}  // namespace slimfit
