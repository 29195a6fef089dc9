// The clinbench commit this binary was built from, stamped at build time ("-dirty" when the
// tracked files differed from the commit). CLINBENCH_GIT_COMMIT expands to a call of it.
#pragma once

namespace clinbench {

const char* git_commit();

}  // namespace clinbench
