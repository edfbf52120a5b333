"""The size limits a real API server enforces (request bodies, ConfigMaps, annotations)."""

from __future__ import annotations

MAX_REQUEST_BYTES = 3 * 1024 * 1024  # kube-apiserver --max-request-bytes default
MAX_CONFIGMAP_BYTES = 1024 * 1024  # corev1 validation: data + binaryData
MAX_ANNOTATIONS_BYTES = 256 * 1024  # keys + values of metadata.annotations
MAX_FIELD_MANAGER_LENGTH = 128  # ValidatePatchOptions: fieldManager
