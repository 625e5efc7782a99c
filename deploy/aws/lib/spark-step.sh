# shellcheck shell=bash
# The Spark step orchard-aws submits to EMR, as a library: deploy/aws/orchard-aws sources
# it, and tests/integration/test_spark_yarn.py sources it to submit the very same
# spark-submit command line to a loopback YARN cluster. Nothing here calls AWS.
#
# Sizing (docs/spark.md, "Memory and cores on YARN"): one executor per node, one orchard task
# per executor using all of the node's vCPUs (spark.task.cpus = spark.executor.cores), its
# container as large as the node's YARN memory allows after room for one application
# master; the JVM heap small (it only carries counts and PCA statistics), the rest
# memoryOverhead, where the Python worker's native pipeline lives.

# instance_vcpus TYPE, instance_yarn_mb TYPE: the vCPUs of an EC2 instance type and the
# memory EMR gives YARN on it (yarn.nodemanager.resource.memory-mb: EMR's documented
# defaults per instance type, its "Task configuration" tables; a node's own value is in
# /etc/hadoop/conf/yarn-site.xml). Empty for a type not in the table.
instance_vcpus() {
  case "$1" in
    *.large) echo 2 ;;
    *.xlarge) echo 4 ;;
    *.2xlarge) echo 8 ;;
    *.4xlarge) echo 16 ;;
    *.8xlarge) echo 32 ;;
    *) echo "" ;;
  esac
}
instance_yarn_mb() {
  case "$1" in
    m5.xlarge | m5a.xlarge | m6i.xlarge | m6a.xlarge | m7i.xlarge) echo 12288 ;;
    m5.2xlarge | m5a.2xlarge | m6i.2xlarge | m6a.2xlarge | m7i.2xlarge) echo 24576 ;;
    m5.4xlarge | m5a.4xlarge | m6i.4xlarge | m6a.4xlarge | m7i.4xlarge) echo 57344 ;;
    c5.xlarge | c6i.xlarge | c7i.xlarge) echo 6144 ;;
    c5.2xlarge | c6i.2xlarge | c7i.2xlarge) echo 12288 ;;
    c5.4xlarge | c6i.4xlarge | c7i.4xlarge) echo 24576 ;;
    r5.xlarge | r6i.xlarge | r7i.xlarge) echo 24576 ;;
    r5.2xlarge | r6i.2xlarge | r7i.2xlarge) echo 57344 ;;
    *) echo "" ;;
  esac
}

# Room left on every node for one YARN application master (client mode: spark.yarn.am.memory
# 512 MiB + 384 MiB overhead, rounded up): the node that hosts it still fits its executor.
readonly ORCHARD_AM_ROOM_MB=1024
# The executor JVM's heap: it only carries task results (counts, PCA statistics of
# dim^2 doubles, 13 MB at 1280-d) and the broadcast model (14 MB).
readonly ORCHARD_EXECUTOR_HEAP_MB=1024
# Memory one orchard task needs beyond the JVM heap (docs/spark.md, "Memory and cores on
# YARN"): the Python worker's measured peak (VmHWM 657 MiB at batch 32 on Fruits-360, 550
# MiB on 12-megapixel photos) with a 25 % margin, plus the JVM's own off-heap memory and
# the Python daemon (~200 MiB), plus per core of the task one full-resolution decode and
# one prepared batch in flight. A container smaller than heap + this is refused.
readonly ORCHARD_TASK_NATIVE_BASE_MB=1024
readonly ORCHARD_TASK_NATIVE_PER_CORE_MB=128

# size_executors TYPE NODES: sets EXECUTOR_CORES, EXECUTOR_MEMORY_MB, EXECUTOR_OVERHEAD_MB
# and MAX_EXECUTORS for NODES executor nodes of instance TYPE. ORCHARD_EXECUTOR_CORES /
# ORCHARD_NODE_YARN_MB override the table (for a type it does not know). Returns 1 with a
# message on stderr when the type is unknown or its nodes are too small for one task.
size_executors() {
  local type=$1 nodes=$2 vcpus yarn_mb container native
  vcpus="${ORCHARD_EXECUTOR_CORES:-$(instance_vcpus "$type")}"
  yarn_mb="${ORCHARD_NODE_YARN_MB:-$(instance_yarn_mb "$type")}"
  if [[ -z "$vcpus" || -z "$yarn_mb" ]]; then
    echo "instance type $type is not in orchard's sizing table (deploy/aws/lib/spark-step.sh): set ORCHARD_EXECUTOR_CORES (its vCPUs) and ORCHARD_NODE_YARN_MB (EMR's yarn.nodemanager.resource.memory-mb for it)" >&2
    return 1
  fi
  container=$((yarn_mb - ORCHARD_AM_ROOM_MB))
  native=$((ORCHARD_TASK_NATIVE_BASE_MB + ORCHARD_TASK_NATIVE_PER_CORE_MB * vcpus))
  if ((container < ORCHARD_EXECUTOR_HEAP_MB + native)); then
    echo "instance type $type: YARN has $yarn_mb MiB per node, but one $vcpus-core orchard task needs $((ORCHARD_EXECUTOR_HEAP_MB + native)) MiB besides $ORCHARD_AM_ROOM_MB MiB for an application master; choose a type with more memory per vCPU" >&2
    return 1
  fi
  EXECUTOR_CORES=$vcpus
  EXECUTOR_MEMORY_MB=$ORCHARD_EXECUTOR_HEAP_MB
  EXECUTOR_OVERHEAD_MB=$((container - ORCHARD_EXECUTOR_HEAP_MB))
  MAX_EXECUTORS=$((nodes < 1 ? 1 : nodes))
}

# orchard_step_args INPUT_URI OUTPUT_URI [orchard.spark args...]: the command the EMR step
# runs on the primary node, one argument per line. Needs EXECUTOR_CORES, EXECUTOR_MEMORY_MB,
# EXECUTOR_OVERHEAD_MB, MAX_EXECUTORS (size_executors) and REMOTE_PYTHON, REMOTE_LAUNCHER,
# REMOTE_MODEL (where the bootstrap action installed orchard).
orchard_step_args() {
  local input_uri=$1 output_uri=$2; shift 2
  local cores=$EXECUTOR_CORES
  printf '%s\n' \
    spark-submit \
    --master yarn \
    --deploy-mode client \
    --conf spark.yarn.maxAppAttempts=1 \
    --conf spark.dynamicAllocation.enabled=true \
    --conf spark.dynamicAllocation.shuffleTracking.enabled=true \
    --conf "spark.dynamicAllocation.maxExecutors=$MAX_EXECUTORS" \
    --conf "spark.dynamicAllocation.initialExecutors=$MAX_EXECUTORS" \
    --conf "spark.executor.cores=$cores" \
    --conf "spark.task.cpus=$cores" \
    --conf "spark.executor.memory=${EXECUTOR_MEMORY_MB}m" \
    --conf "spark.executor.memoryOverhead=${EXECUTOR_OVERHEAD_MB}m" \
    --conf spark.executorEnv.MALLOC_ARENA_MAX=2 \
    --conf "spark.executorEnv.OPENBLAS_NUM_THREADS=$cores" \
    --conf "spark.executorEnv.OMP_NUM_THREADS=$cores" \
    --conf "spark.pyspark.python=$REMOTE_PYTHON" \
    --conf "spark.pyspark.driver.python=$REMOTE_PYTHON" \
    "$REMOTE_LAUNCHER" \
    --input "$input_uri" \
    --output "$output_uri" \
    --model "$REMOTE_MODEL" \
    "$@"
}
