# The four methods every benchmark compares, as `slimfit train` keys (source this file):
#   baseline (r=0, stock ops), freeze_only (r, stock ops), compress_only (r=0, SlimFit ops),
#   slimfit (r, SlimFit ops).
# usage: train_method_args METHOD R   -> prints the keys
train_method_args() {
  case $1 in
    baseline) echo "freeze_ratio=0 compress=false" ;;
    freeze_only) echo "freeze_ratio=$2 compress=false" ;;
    compress_only) echo "freeze_ratio=0 compress=true" ;;
    slimfit) echo "freeze_ratio=$2 compress=true" ;;
    *) echo "unknown method '$1'" >&2; return 1 ;;
  esac
}
# The same for `slimfit memory` flags.
memory_method_args() {
  case $1 in
    baseline) echo "--freeze-ratio 0 --no-compress" ;;
    freeze_only) echo "--freeze-ratio $2 --no-compress" ;;
    compress_only) echo "--freeze-ratio 0" ;;
    slimfit) echo "--freeze-ratio $2" ;;
    *) echo "unknown method '$1'" >&2; return 1 ;;
  esac
}
