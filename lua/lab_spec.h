/* lab_spec.h - `luxy test SPEC.lua...` (docs/policy-lab.md). */
#ifndef LUXY_LAB_SPEC_H
#define LUXY_LAB_SPEC_H

/* argv[0] is "test"; returns the exit status: 0 every case passed, 1 one
 * failed, 2 a spec could not be run. */
int lab_test_main(int argc, char **argv);

#endif
