//! Tests of `testkit::netns`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use testkit::{Error, Netns};

use crate::common::{listed, require_root};

/// The inode of the network namespace the current thread is in.
fn current_netns_inode() -> u64 {
    fs::metadata("/proc/thread-self/ns/net")
        .expect("own namespace")
        .ino()
}

#[test]
fn created_with_loopback_up_and_deleted_on_drop() {
    require_root!("created_with_loopback_up_and_deleted_on_drop");
    let ns = Netns::new("tk-t").expect("namespace");
    let name = ns.name().to_owned();
    assert!(
        name.starts_with(&format!("tk-t-{}-", std::process::id())),
        "{name}"
    );
    assert_eq!(ns.path(), std::path::Path::new("/run/netns").join(&name));
    assert!(ns.path().exists());
    assert!(listed(&name));

    let lo = ns.ip(["-o", "addr", "show", "dev", "lo"]).expect("ip addr");
    assert!(lo.contains("127.0.0.1/8"), "{lo}");
    let flags = ns.ip(["-o", "link", "show", "dev", "lo"]).expect("ip link");
    assert!(flags.contains(",UP"), "{flags}");
    // Only lo: a fresh namespace.
    assert_eq!(ns.ip(["-o", "link"]).expect("ip link").lines().count(), 1);

    drop(ns);
    assert!(!listed(&name), "{name} still listed");
    assert!(!std::path::Path::new("/run/netns").join(&name).exists());
}

#[test]
fn deleted_when_the_body_panics() {
    require_root!("deleted_when_the_body_panics");
    let names = Mutex::new(Vec::new());
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let a = Netns::new("tk-panic").expect("namespace");
        let b = Netns::new("tk-panic").expect("namespace");
        names
            .lock()
            .expect("lock")
            .extend([a.name().to_owned(), b.name().to_owned()]);
        assert!(listed(a.name()) && listed(b.name()));
        panic!("the test body fails");
    }));
    assert!(result.is_err());
    let names = names.into_inner().expect("lock");
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1]);
    for name in &names {
        assert!(!listed(name), "{name} left behind after a panic");
    }
}

#[test]
fn commands_run_inside_and_failures_carry_stderr() {
    require_root!("commands_run_inside_and_failures_carry_stderr");
    let host_forwarding = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("sysctl");
    let ns = Netns::new("tk-exec").expect("namespace");

    let out = ns.exec("ip", ["-o", "link"]).expect("exec");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    ns.exec_ok(
        "ip",
        [
            "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1",
        ],
    )
    .expect("add a veth pair inside");
    assert!(ns.sh("ip -o link").expect("sh").contains("v0@v1"));

    match ns.exec("sh", ["-c", "echo to-stdout; echo oops >&2; exit 3"]) {
        Err(Error::Failed {
            command,
            status,
            stderr,
        }) => {
            assert_eq!(status.code(), Some(3));
            assert_eq!(stderr, "oops");
            assert!(command.contains(ns.name()), "{command}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let unchecked = ns.output("sh", ["-c", "exit 4"]).expect("runs");
    assert_eq!(unchecked.status.code(), Some(4));
    assert!(matches!(
        ns.ip(["route", "add", "bogus"]),
        Err(Error::Failed { .. })
    ));
    assert!(matches!(
        ns.exec("/nonexistent-program", ["x"]),
        Err(Error::Failed { .. })
    ));

    ns.sysctl(&["net.ipv4.ip_forward=1"]).expect("sysctl");
    assert_eq!(
        ns.sh("sysctl -n net.ipv4.ip_forward").expect("sh").trim(),
        "1"
    );
    ns.ip_batch(["addr add 10.9.0.1/24 dev v0", "link set v0 up"])
        .expect("batch");
    assert!(ns.ip(["-o", "addr"]).expect("ip").contains("10.9.0.1/24"));
    let failed = ns
        .ip_batch(["link set v0 down", "link set nosuchdev up"])
        .expect_err("the second line fails");
    assert!(failed.to_string().contains("nosuchdev"), "{failed}");

    // The host is untouched.
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("sysctl"),
        host_forwarding
    );
}

#[test]
fn enter_and_spawn_run_inside() {
    require_root!("enter_and_spawn_run_inside");
    let ns = Netns::new("tk-enter").expect("namespace");
    let host = current_netns_inode();
    let target = fs::metadata(ns.path()).expect("namespace file").ino();
    assert_ne!(host, target);

    assert_eq!(ns.enter(current_netns_inode), target);
    // Borrows from the caller are fine, the thread is scoped.
    let label = String::from("inside");
    assert_eq!(
        ns.enter(|| format!("{label}:{}", current_netns_inode())),
        format!("inside:{target}")
    );
    // The caller's thread stays where it was.
    assert_eq!(current_netns_inode(), host);

    // A socket made inside lives inside: its listener sees only that namespace's addresses.
    let listener = ns
        .enter(|| std::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind inside");
    let port = listener.local_addr().expect("addr").port();
    let connected = ns.enter(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert!(connected);

    let handle = ns.spawn(current_netns_inode).expect("spawn");
    assert_eq!(handle.join().expect("thread"), target);
    assert_eq!(current_netns_inode(), host);
}

#[test]
fn a_panic_inside_enter_reaches_the_caller() {
    require_root!("a_panic_inside_enter_reaches_the_caller");
    let ns = Netns::new("tk-enter").expect("namespace");
    let name = ns.name().to_owned();
    let result = panic::catch_unwind(AssertUnwindSafe(|| ns.enter(|| panic!("inside"))));
    let payload = result.expect_err("the panic comes through");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside"));
    drop(ns);
    assert!(!listed(&name));
}

#[test]
fn bad_prefixes_are_refused_before_anything_is_created() {
    for bad in ["", "a/b", "-x", "with space", &"x".repeat(41)] {
        assert!(
            matches!(Netns::new(bad), Err(Error::InvalidPrefix(_))),
            "{bad:?}"
        );
    }
}
