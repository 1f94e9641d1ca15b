/* sim_main.h - `luxy simulate ...` (docs/policy-lab.md). */
#ifndef LUXY_SIM_MAIN_H
#define LUXY_SIM_MAIN_H

/* argv[0] is "simulate". Returns the exit status. */
int sim_main(int argc, char **argv);

#endif
