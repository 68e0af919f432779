# Entry points; the README's commands work without make too.
.PHONY: test bench crd

test:
	./scripts/test.sh

bench:
	.venv/bin/python bench/plan_bench.py
	.venv/bin/python bench/quality_bench.py
	.venv/bin/python bench/local_bench.py
	.venv/bin/python bench/redis_bench.py
	.venv/bin/python bench/cluster_bench.py

crd:
	.venv/bin/tuneop crd > crds/tuningsession.yaml
