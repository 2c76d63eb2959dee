//! Reading a text of Kubernetes objects (multi-document YAML, JSON, or a `List`).
