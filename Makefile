# Shortcuts; each target is a script in scripts/ that installs what it needs.
.PHONY: test demo bench package stackset lint

test:
	./scripts/test

demo:
	./scripts/demo

bench:
	./scripts/bench

package:
	./scripts/package

stackset:
	./scripts/stackset

lint:
	./scripts/lint
