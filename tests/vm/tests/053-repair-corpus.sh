# fsck.daxfs -y on damaged images in the VM (docs/testing.md, "Repair
# corpus"): REPAIR_N (default 16) copies of a populated filesystem made by
# the module, each damaged by daxfs-fuzz corrupt (flip, zero, ones, field
# in turn).  Every image fsck -n reports must be repaired by one -y (fsck
# -n clean after), left alone by a second -y, and then mount with -o dax,
# walk, read every file and take a new file in every directory, with fsck
# clean after and no oops or warning in the kernel log.
W=/tmp/repair
rm -rf "$W"
mkdir -p "$W"
source /host/tests/vm/repair-lib.sh
load_module
use_fs daxfs "$DEV"
corpus "${REPAIR_N:-16}"
for b in "${BROKEN[@]}"; do echo "FAILED $b"; done
[ ${#BROKEN[@]} = 0 ] || die "${#BROKEN[@]} repaired images failed"
((DETECTED * 2 > IMAGES)) || die "only $DETECTED of $IMAGES damaged images were reported"
