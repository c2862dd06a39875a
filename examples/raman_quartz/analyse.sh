#!/bin/sh
# Finite-temperature Raman from the MD logs, and its comparison with the harmonic one (no torch).
# Run in this folder after md_raman.py (logs in work/md) and harmonic_raman.py.
set -e
PY="python -m ase_dipole.cli"
FWHM=45   # cm^-1: the narrowest Gaussian window 1.5 ps logs allow (5 widths)
mkdir -p results/logs
for log in work/md/traj_*.alog work/md/traj_*.log; do gzip -9 -n -c "$log" > "results/logs/$(basename "$log").gz"; done
cp work/md/run.json results/logs/run.json
for json in work/md/traj_*.nve.json; do cp "$json" results/logs/; done
$PY raman results/logs/traj_*.alog.gz -o results/raman_md_300K.csv --channel total --laser-nm 532 \
    --fwhm-cm1 $FWHM --max-wavenumber-cm1 1500
$PY raman results/logs/traj_*.alog.gz -o results/raman_md_300K_activity.csv --channel total --quantity activity \
    --laser-nm 532 --fwhm-cm1 $FWHM --max-wavenumber-cm1 1500
for channel in isotropic anisotropic; do
    $PY raman results/logs/traj_*.alog.gz -o results/raman_md_300K_$channel.csv --channel $channel \
        --laser-nm 532 --fwhm-cm1 $FWHM --max-wavenumber-cm1 1500
done
$PY compare results/raman_md_300K.csv results/raman_harmonic_2x2x2.csv --range-cm1 60 1300 \
    -o results/compare_md_vs_harmonic.txt
$PY compare results/raman_md_300K_activity.csv results/raman_harmonic_activity_2x2x2.csv --range-cm1 60 1300 \
    -o results/compare_md_vs_harmonic_activity.txt
cat results/compare_md_vs_harmonic.txt results/compare_md_vs_harmonic_activity.txt
python plot_raman.py
# one trajectory at a time: the spread of the band areas
for log in results/logs/traj_*.alog.gz; do
    name=$(basename "$log" .alog.gz)
    $PY raman "$log" -o "work/raman_${name}_activity.csv" --quantity activity --laser-nm 532 --fwhm-cm1 $FWHM \
        --max-wavenumber-cm1 1500
    $PY compare "work/raman_${name}_activity.csv" results/raman_harmonic_activity_2x2x2.csv --range-cm1 60 1300 \
        -o "results/compare_${name}_activity.txt"
done
