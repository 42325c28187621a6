// nncompress: compress neural networks stored as ONNX files.
#include "cli_main.h"

int main(int argc, char** argv) { return nncompress::cli::run_cli(argc, argv); }
