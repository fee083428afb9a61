/* ledge.c: the ledge command line: one binary, one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
    {"info", cmd_info, "describe a model: inputs, outputs, operators, parameters, MACs, memory"},
    {"run", cmd_run, "run a model on .npy inputs (or random ones) and write .npy outputs"},
    {"bench", cmd_bench, "measure load time, latency and peak memory"},
    {"frames", cmd_frames, "list (and save) the frames of a video, stream, camera or image directory"},
    {"ops", cmd_ops, "list the operators this build implements"},
    {"serve", cmd_serve, "serve models over HTTP(S) and MQTT (ledge serve --help)"},
    {"train", cmd_train, "fine-tune or train a CNN on labelled images (ledge train --help)"},
    {"eval", cmd_eval, "accuracy, per-class precision/recall and confusion matrix of a model on labelled data"},
    {"convert", cmd_convert, "convert a model (ONNX, TF.js, .ledge) to .onnx or the native .ledge format"},
    {"quantize", cmd_quantize, "int8 post-training quantization with calibration"},
    {"compress", cmd_compress, "weight sharing (k-means) + Huffman coding into a .ledge file"},
    {"detect", cmd_detect, "run a vision task (face, face-mesh, iris, hands, pose, objects, classify) on images"},
    {"interpret", cmd_interpret, "turn per-frame state probabilities (JSON Lines) into alerts over time"},
    {"pipeline", cmd_pipeline, "run a pipeline: camera/video -> perception -> interpretation -> events, alerts, status page"},
    {"optimize", cmd_optimize, "make int8/pruned/compressed variants of a model and report the trade-offs"},
    {"prune", cmd_prune, "prune a model: magnitude (unstructured) or whole channels (smaller and faster)"},
    {"fleet", cmd_fleet, "operate a fleet: keygen, provision, publish, deploy, status, rollback"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: ledge <command> [options]   (ledge <command> --help for details)\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "  %-10s %s\n", "version", "print the version");
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    printf("ledge %s\n", ledge_version());
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  cli_fail("unknown command '%s' (see ledge --help)", argv[1]);
  return 2;
}
