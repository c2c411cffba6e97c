#!/usr/bin/env bash
# The main job on the default that needs no download: the small trained demo checkpoint (a
# Qwen2.5-VL-architecture model trained on pictures of coloured shapes) answers questions about
# one of its test scenes and draws the object it locates.
set -euo pipefail
build=${1:-build}
model=$build/demo-model
scene=data/demo/scenes/scene03.png
cat <<MSG
== qwenvl demo ==================================================================
Model: $model — the small demo checkpoint shipped with qwenvl (Qwen2.5-VL architecture,
text hidden 256, 4 layers; vision depth 4), trained for 140 s on synthetic pictures of coloured
shapes. It knows only its training questions' words: it counts shapes, names colours, describes
scenes and outputs boxes (often misplaced: it is partly trained). For real answers, download the
real model (see README) and run:  $build/qwenvl run -m models/Qwen2.5-VL-3B-Instruct --image PHOTO -p "..."
Picture: $scene
=================================================================================
MSG
for q in "How many shapes are there?" "What shapes are in this image?"; do
  echo
  echo "Q: $q"
  printf 'A: '
  "$build/qwenvl" run -m "$model" --image "$scene" -p "$q" --max-tokens 110
done
echo
q="Outline the position of each shape and output all the coordinates in JSON format."
echo "Q: $q"
printf 'A: '
"$build/qwenvl" run -m "$model" --image "$scene" -p "$q" --max-tokens 110 --boxes "$build/demo-boxes.png"
echo
echo "The located shapes are drawn on the picture in $build/demo-boxes.png"
