//! Test support shared by the backends: namespace sandbox, test servers, the end-to-end suite (later issues).
