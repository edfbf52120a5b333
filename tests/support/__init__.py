"""Helpers shared by the tests, the benchmarks and the demo (importable, never collected).

* :mod:`tests.support.data`: where the test data lives (recorded logs, conformance cases);
* :mod:`tests.support.lab`: the lab of local registries and images
  (:mod:`~tests.support.processes`, :mod:`~tests.support.namespaces`,
  :mod:`~tests.support.registries`, :mod:`~tests.support.images`);
* :mod:`tests.support.hostroot`: chroot-able host roots, as a node's ``/host`` looks;
* :mod:`tests.support.fake_apiserver`: a fake Kubernetes API server (real HTTPS).
"""
