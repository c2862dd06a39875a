#!/bin/sh
# Pack what a later sitting needs to resume the RPBE-D3 (MACE) campaign into
# results/mace_rpbe_d3/resume/md_snapshot.tar.gz (small: no model files).
# Safe while the campaign runs: checkpoints are copied before the logs, so every
# copied log is at least as long as its checkpoint says (resuming cuts it back).
# Restore with:  tar xzf examples/liquid_water/results/mace_rpbe_d3/resume/md_snapshot.tar.gz \
#                    -C examples/liquid_water/work/mace_rpbe_d3
set -e
cd "$(dirname "$0")"
RUN=work/mace_rpbe_d3/md
DEST=results/mace_rpbe_d3/resume
STAGE=$(mktemp -d)
mkdir -p "$STAGE/md" "$DEST"
cp -p "$RUN"/run.json "$STAGE/md/"
for pattern in '*.ckpt.npz' 'start_*.traj' 'traj_*.log' 'traj_*.nve.json'; do
    for file in "$RUN"/$pattern; do
        [ -f "$file" ] && cp -p "$file" "$STAGE/md/"
    done
done
tar czf "$DEST/md_snapshot.tar.gz.part" -C "$STAGE" md
mv "$DEST/md_snapshot.tar.gz.part" "$DEST/md_snapshot.tar.gz"
rm -r "$STAGE"
tar tzvf "$DEST/md_snapshot.tar.gz"
ls -l "$DEST/md_snapshot.tar.gz"
