#!/usr/bin/env bash
# Everything a lent GPU is for, in one command: the CUDA tests, the model benchmark and the node benchmark.
#
# Runs on a machine that has CUDA, PyTorch, NumPy, OpenCV, PyYAML and tqdm but no ROS (the workplace's GPU
# machines). ROS 2 Jazzy comes as cp312 wheels in .whl/ (see benchmarks/README.md, "GPU runs"), installed
# into that Python. Each step has its own time limit; results go to $OUT (default out/gpu), packed into
# gpu_results.tar.gz after every step, so a run cut short still returns what it finished.
#
#   bash benchmarks/gpu_session.sh [STEP ...]   steps: tests bench bench4 node nodedefault nodefast compile
#                                               (default: tests bench bench4 node compile)
set -u
OUT=${OUT:-out/gpu}
mkdir -p "$OUT/results"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export LEDNET_ROS_CACHE=/tmp/lednet_ros_cache
steps=${*:-tests bench bench4 node compile}
log() { echo "== $(date +%T) $*" | tee -a "$OUT/results/session.log"; }
pack() { tar -czf "$OUT/gpu_results.tar.gz" -C "$OUT" results; }
run_step() {  # name limit_s command...
    local name=$1 limit=$2
    shift 2
    log "$name: $*"
    timeout "$limit" "$@" >"$OUT/results/$name.log" 2>&1
    log "$name: exit $?"
    tail -n 25 "$OUT/results/$name.log"
    pack
}

{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
    python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"
    nproc
} >"$OUT/results/env.txt" 2>&1
cat "$OUT/results/env.txt"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl >"$OUT/results/pip.log" 2>&1
    log "ROS wheels: exit $?"
fi
python3 -c "import rclpy, sensor_msgs.msg; print('rclpy', rclpy.__file__)" 2>&1 | tail -1 | tee -a "$OUT/results/session.log"

for step in $steps; do
    case $step in
    tests)
        run_step tests 150 python3 -m pytest -q -s -p no:cacheprovider test/inference/test_cuda_graphs.py test/inference/test_engine.py -rs ;;
    bench)
        run_step bench_b1 100 python3 -c "from lednet_ros.commands.bench import main; raise SystemExit(main())" \
            --device cuda --sizes 512x256 1024x512 2048x1024 --batch 1 --iterations 200 --warmup 20 \
            --out "$OUT/results/bench_b1" ;;
    bench4)
        run_step bench_b4 100 python3 -c "from lednet_ros.commands.bench import main; raise SystemExit(main())" \
            --device cuda --sizes 512x256 1024x512 2048x1024 --batch 4 --iterations 100 --warmup 10 \
            --out "$OUT/results/bench_b4" ;;
    node)  # with the large-image DDS profile, next to the transport floor (echo node)
        (export FASTRTPS_DEFAULT_PROFILES_FILE=$PWD/config/fastdds_large_images.xml
         run_step bench_node 230 python3 -c "from lednet_ros.commands.bench_node import main; raise SystemExit(main())" \
            --device cuda --sizes 640x480 1280x720 1920x1080 --cameras 1 4 --rate 30 --frames 150 --transport-floor \
            --out "$OUT/results/bench_node") ;;
    nodedefault)  # Fast DDS's built-in transports
        run_step bench_node_default 200 python3 -c "from lednet_ros.commands.bench_node import main; raise SystemExit(main())" \
            --device cuda --sizes 640x480 1280x720 1920x1080 --cameras 1 4 --rate 30 --frames 150 \
            --out "$OUT/results/bench_node_default" ;;
    nodefast)
        run_step bench_node_fast 150 python3 -c "from lednet_ros.commands.bench_node import main; raise SystemExit(main())" \
            --device cuda --sizes 640x480 1920x1080 --cameras 1 --rate 200 --frames 600 \
            --out "$OUT/results/bench_node_fast" ;;
    compile)
        run_step bench_compile 150 python3 -c "from lednet_ros.commands.bench import main; raise SystemExit(main())" \
            --device cuda --sizes 1024x512 --batch 1 --iterations 200 --warmup 20 --compile \
            --out "$OUT/results/bench_compile" ;;
    *) log "unknown step $step" ;;
    esac
done
log "done"
pack
