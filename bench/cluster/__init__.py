"""Control-plane benchmark: the operator against a real kube-apiserver.

Starts its own cluster with the e2e harness (testing/minicluster: etcd,
kube-apiserver and kube-controller-manager of the tier's release, 1.37.2 by
default, and the node simulator that
runs each pod's command as a local process), with the API server's audit log
on so every request is attributed to its client. The operator runs as a
process (``tuneop operator --namespace NS --liveness '' --metrics-port 0``)
with its own client certificate (user ``tuneop-operator``, in
``system:masters``); this script uses ``tuneop-bench``; the node simulator uses
the harness's admin (``tuneop-e2e-admin``) and the controller-manager its
per-controller ServiceAccounts. Each measurement gets a fresh namespace and a
fresh operator process; the namespace is deleted (and waited for) afterwards.

Measurements (``--only``, comma-separated; default all):

latency     create a TuningSession (one explicit trial of quadratic) and time
            from the create call returning to the session's first Job appearing
            on a Job watch; sequential sessions, each waited to Succeeded before
            the next; one unrecorded warm-up session first. p50 and p95
            (nearest rank). Target p50 < 1 s.
throughput  N trivial trials (explicit trials of quadratic, one trial per Job)
            at maxParallel P: create → phase Succeeded, against a floor measured
            in the same run: this script creating the same Job manifests (built
            by tuneop.core.jobs.manifests.job_manifest: same command, same env) in
            waves of P and waiting for each wave to complete. Target <= 1.3x.
api         from the same operator run: the operator's API requests per trial,
            counted in the audit log (user tuneop-operator, from the create to
            all Jobs cleaned up plus 2 s; long-running watches listed apart),
            and cross-checked with apiserver_request_total (all clients, watches
            left out): operator run minus floor run. Target <= 6 per trial.
rss         S sessions x T trials (random search over quadratic, trialsPerJob J,
            maxParallel M) created at once; the operator's VmHWM from
            /proc/<pid>/status once all have Succeeded. Target <= 120 MB.
restart     R sessions whose trials sleep D s (maxParallel 1, one trial per
            Job): once every session has its first Job running and recorded in
            its status, kill -9 the operator, wait until those Jobs complete,
            start a new operator and time until every session is recovered:
            its status counts more harvested Jobs than at the kill (the Job that
            finished during the outage was harvested) AND its next Job was
            created by the new operator.

One module per measurement (latency, throughput, api, rss, restart), the cluster and
the shared figures beside them, the report in ``report``, the command line in
``__main__``.

Run from the repository root: .venv/bin/python -m bench.cluster [--quick] [--only latency,api]
"""
