#pragma once
// Nothing lost: the files this process read (models and their external data, datasets, images,
// recipes, manifests) are noted, and every output (AtomicFile) is claimed before it is written.
// A claim is refused with bad_input when the path is one of those inputs (also through a symlink
// or a hard link), an output this process already wrote or claimed, or an existing file that is
// not a regular one (a device, a FIFO). So no command overwrites what it reads, and two outputs of
// one command never land on one file.
#include <string>
#include <vector>

namespace nncompress {

void note_input(const std::string& path);
// Before any work: notes `inputs` and reserves `outputs` (the model, its external data, reports),
// refusing collisions among them now rather than after the work.
void plan_outputs(const std::vector<std::string>& inputs, const std::vector<std::string>& outputs);
// At write time (AtomicFile): throws bad_input as described above, naming both paths; a path
// reserved by plan_outputs may be written once.
void claim_output(const std::string& path);
// Forgets every input and output (for tests that run several commands in one process).
void reset_file_guard();

}  // namespace nncompress
