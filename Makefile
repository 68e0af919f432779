# Entry points; the README's commands work without make too.
.PHONY: test bench crd

test:
	./scripts/test.sh

# The benchmarks are modules of the bench package: run them from the repository root.
bench:
	.venv/bin/python -m bench.plan_bench
	.venv/bin/python -m bench.quality_bench
	.venv/bin/python -m bench.pareto_bench
	.venv/bin/python -m bench.local_bench
	.venv/bin/python -m bench.redis_bench
	.venv/bin/python -m bench.hung_redis_bench
	.venv/bin/python -m bench.report_bench
	.venv/bin/python -m bench.spec_bounds_bench
	.venv/bin/python -m bench.startup_bench
	.venv/bin/python -m bench.operator_start_bench
	.venv/bin/python -m bench.optuna_side_by_side
	.venv/bin/python -m bench.install_bench --cold
	.venv/bin/python -m bench.cluster
	.venv/bin/python -m bench.cluster.scale

crd:
	.venv/bin/tuneop crd > crds/tuningsession.yaml
