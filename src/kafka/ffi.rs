//! The unsafe boundary: librdkafka calls that rust-rdkafka does not expose safely.
//!
//! This private module is the only place in the crate with `unsafe` code. It wraps, once:
//! CreateAcls, DescribeAcls, DeleteAcls, ListConsumerGroupOffsets, AlterConsumerGroupOffsets,
//! ListOffsets, ListConsumerGroups, DescribeConsumerGroups and DescribeCluster (both with
//! authorized operations), plus plain metadata, the cluster id, the main-queue error/log
//! drain and byte-exact record headers. Everything it returns is owned Rust data; nothing
//! that points into librdkafka memory escapes a function.
//!
//! Ownership rules, applied everywhere below:
//! - The `rd_kafka_t` handle is borrowed through [`Rk`], whose lifetime is tied to the
//!   rust-rdkafka client that created it and destroys it; so it outlives every call here.
//! - Every object we create (queue, admin options, ACL binding, group-offsets request,
//!   error object, metadata, cluster id string) is owned by an RAII guard that frees it
//!   on every path, including early returns and panics.
//! - librdkafka copies every request argument when a request is enqueued (checked in
//!   rdkafka_admin.c for each call used here), so our guards may free the arguments as
//!   soon as the call returns.
//! - Each admin request posts exactly one result event on a queue created for that call
//!   alone; we poll it until the caller's deadline. The request also carries the same
//!   timeout (`request_timeout`), so librdkafka finishes it on its side. If we give up
//!   first, destroying our queue reference is safe: the pending request holds its own
//!   reference to the queue and the late result is freed with it.
//! - Result objects (`*_result_*` pointers) live as long as their event. They are read
//!   into owned values while the `Event` guard is alive, and never stored.
//! - Values that may come from a broker (error codes, ACL enums, group states) are read as
//!   plain integers through the redeclarations in `raw`, never as bindgen's Rust enums:
//!   a broker newer than this librdkafka may send codes those enums do not have, and an
//!   out-of-range enum value would be undefined behaviour.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::time::{Duration, Instant};

use rdkafka::client::{Client, ClientContext};
use rdkafka::message::BorrowedMessage;
use rdkafka::TopicPartitionList;
use rdkafka_sys as sys;

use super::types::{
    AclBinding, AclFilter, AclOperation, AclPermission, PatternType, RecordHeader, ResourceType,
};

/// Redeclarations of librdkafka functions whose results may carry values outside the
/// bindgen enums (see the module doc). Same symbols, same C ABI: a C enum is an `int`.
mod raw {
    use super::*;

    extern "C" {
        pub fn rd_kafka_error_code(error: *const sys::rd_kafka_error_t) -> c_int;
        pub fn rd_kafka_event_error(rkev: *mut sys::rd_kafka_event_t) -> c_int;
        pub fn rd_kafka_err2name(err: c_int) -> *const c_char;
        pub fn rd_kafka_err2str(err: c_int) -> *const c_char;
        pub fn rd_kafka_metadata(
            rk: *mut sys::rd_kafka_t,
            all_topics: c_int,
            only_rkt: *mut sys::rd_kafka_topic_t,
            metadatap: *mut *const sys::rd_kafka_metadata_t,
            timeout_ms: c_int,
        ) -> c_int;
        pub fn rd_kafka_message_headers(
            rkmessage: *const sys::rd_kafka_message_t,
            hdrsp: *mut *mut sys::rd_kafka_headers_t,
        ) -> c_int;
        pub fn rd_kafka_header_get_all(
            hdrs: *const sys::rd_kafka_headers_t,
            idx: usize,
            namep: *mut *const c_char,
            valuep: *mut *const c_void,
            sizep: *mut usize,
        ) -> c_int;
        pub fn rd_kafka_AclBinding_restype(acl: *const sys::rd_kafka_AclBinding_t) -> c_int;
        pub fn rd_kafka_AclBinding_resource_pattern_type(
            acl: *const sys::rd_kafka_AclBinding_t,
        ) -> c_int;
        pub fn rd_kafka_AclBinding_operation(acl: *const sys::rd_kafka_AclBinding_t) -> c_int;
        pub fn rd_kafka_AclBinding_permission_type(acl: *const sys::rd_kafka_AclBinding_t)
            -> c_int;
        pub fn rd_kafka_ConsumerGroupListing_state(
            grplist: *const sys::rd_kafka_ConsumerGroupListing_t,
        ) -> c_int;
        pub fn rd_kafka_ConsumerGroupListing_type(
            grplist: *const sys::rd_kafka_ConsumerGroupListing_t,
        ) -> c_int;
        pub fn rd_kafka_ConsumerGroupDescription_state(
            grpdesc: *const sys::rd_kafka_ConsumerGroupDescription_t,
        ) -> c_int;
        pub fn rd_kafka_ConsumerGroupDescription_authorized_operations(
            grpdesc: *const sys::rd_kafka_ConsumerGroupDescription_t,
            cntp: *mut usize,
        ) -> *const c_int;
        pub fn rd_kafka_DescribeCluster_result_authorized_operations(
            result: *const sys::rd_kafka_DescribeCluster_result_t,
            cntp: *mut usize,
        ) -> *const c_int;
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// An error code with its name and message, as librdkafka or the broker reported it.
/// `mod.rs` turns it into a `KafkaError` with the cluster/topic/group context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RdError {
    pub code: i32,
    pub name: String,
    pub message: String,
}

impl RdError {
    /// From a bare code: name and generic description from librdkafka's tables.
    pub(super) fn from_code(code: i32) -> RdError {
        // SAFETY: err2name/err2str accept any int (unknown codes give a generic string)
        // and return pointers to static strings, never NULL; we copy them.
        let (name, message) = unsafe {
            (
                cstr_lossy(raw::rd_kafka_err2name(code)),
                cstr_lossy(raw::rd_kafka_err2str(code)),
            )
        };
        RdError {
            code,
            name,
            message,
        }
    }

    pub(super) fn with_message(code: i32, message: impl Into<String>) -> RdError {
        RdError {
            message: message.into(),
            ..RdError::from_code(code)
        }
    }

    /// Our own deadline expired before librdkafka answered.
    pub(super) fn timed_out(what: &str) -> RdError {
        RdError::with_message(
            code(sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__TIMED_OUT),
            format!("no answer to {what} before the deadline"),
        )
    }

    pub(super) fn invalid_arg(message: impl Into<String>) -> RdError {
        RdError::with_message(
            code(sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__INVALID_ARG),
            message,
        )
    }

    /// Reads a borrowed `rd_kafka_error_t` (NULL means no error).
    ///
    /// # Safety
    /// `err` must be NULL or point to a live error object (we only read it).
    unsafe fn from_error_obj(err: *const sys::rd_kafka_error_t) -> Option<RdError> {
        if err.is_null() {
            return None;
        }
        let code = raw::rd_kafka_error_code(err);
        let message = cstr_lossy(sys::rd_kafka_error_string(err));
        Some(RdError::with_message(code, message))
    }
}

/// The integer value of a librdkafka error constant.
pub(super) fn code(err: sys::rd_kafka_resp_err_t) -> i32 {
    err as i32
}

// ---------------------------------------------------------------------------------------
// Small unsafe helpers
// ---------------------------------------------------------------------------------------

/// Copies a C string (lossily, as UTF-8); NULL gives "".
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string alive for the call.
unsafe fn cstr_lossy(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Like `cstr_lossy`, but NULL gives `None`.
///
/// # Safety
/// As `cstr_lossy`.
unsafe fn cstr_opt(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(cstr_lossy(p))
    }
}

/// Views a C array as a slice; NULL or 0 gives an empty slice.
///
/// # Safety
/// When non-NULL, `p` must point to `n` initialised elements alive for `'a`.
unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, n)
    }
}

/// Copies a C int array of ACL operations (NULL: not reported).
///
/// # Safety
/// As `slice`.
unsafe fn acl_ops(p: *const c_int, n: usize) -> Option<Vec<AclOperation>> {
    if p.is_null() {
        None
    } else {
        Some(
            slice(p, n)
                .iter()
                .map(|&op| AclOperation::from_raw(op as i64))
                .collect(),
        )
    }
}

/// Converts a Rust string to a C string, refusing interior NULs.
fn c_string(s: &str, what: &str) -> Result<CString, RdError> {
    CString::new(s).map_err(|_| RdError::invalid_arg(format!("{what} contains a NUL byte")))
}

/// Milliseconds for librdkafka, clamped to `1..=i32::MAX`.
fn millis(d: Duration) -> c_int {
    d.as_millis().clamp(1, i32::MAX as u128) as c_int
}

/// One partition entry of a `rd_kafka_topic_partition_list_t`, copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub metadata: Vec<u8>,
    /// 0 when no error.
    pub err: i32,
}

/// Copies a topic-partition list.
///
/// # Safety
/// `list` must be NULL or point to a live list (owned by an event or a guard).
unsafe fn read_tpl(list: *const sys::rd_kafka_topic_partition_list_t) -> Vec<RawPartition> {
    if list.is_null() {
        return Vec::new();
    }
    let cnt = usize::try_from((*list).cnt).unwrap_or(0);
    slice((*list).elems as *const sys::rd_kafka_topic_partition_t, cnt)
        .iter()
        .map(|e| RawPartition {
            topic: cstr_lossy(e.topic),
            partition: e.partition,
            offset: e.offset,
            metadata: slice(e.metadata as *const u8, e.metadata_size).to_vec(),
            err: read_err_field(ptr::addr_of!(e.err)),
        })
        .collect()
}

/// Copies a topic-partition list owned by rust-rdkafka (e.g. a DeleteRecords result),
/// reading error codes as plain integers.
pub(super) fn read_partition_list(tpl: &TopicPartitionList) -> Vec<RawPartition> {
    // SAFETY: `tpl` owns a live list for the duration of the borrow; we only read it.
    unsafe { read_tpl(tpl.ptr()) }
}

/// Reads a C `rd_kafka_resp_err_t` field as a plain int (see the module doc).
///
/// # Safety
/// `field` must point to a live, initialised enum field (4 bytes, `repr(i32)`).
unsafe fn read_err_field(field: *const sys::rd_kafka_resp_err_t) -> i32 {
    field.cast::<i32>().read()
}

// ---------------------------------------------------------------------------------------
// Handle and RAII guards
// ---------------------------------------------------------------------------------------

/// A borrowed librdkafka client handle; `'a` ties it to the rust-rdkafka `Client` that owns
/// and destroys it, so the handle outlives everything done with an `Rk`.
#[derive(Clone, Copy)]
pub(super) struct Rk<'a> {
    ptr: NonNull<sys::rd_kafka_t>,
    _owner: PhantomData<&'a ()>,
}

impl<'a> Rk<'a> {
    pub(super) fn of<C: ClientContext>(client: &'a Client<C>) -> Rk<'a> {
        Rk {
            // rust-rdkafka only constructs a `Client` from a non-NULL handle.
            ptr: NonNull::new(client.native_ptr()).expect("rust-rdkafka client without handle"),
            _owner: PhantomData,
        }
    }

    fn raw(self) -> *mut sys::rd_kafka_t {
        self.ptr.as_ptr()
    }
}

/// An owned queue reference (`rd_kafka_queue_new` / `rd_kafka_queue_get_main`).
struct Queue(NonNull<sys::rd_kafka_queue_t>);

impl Queue {
    /// A fresh queue for one request's result.
    fn new(rk: Rk<'_>) -> Result<Queue, RdError> {
        // SAFETY: `rk` is a live handle; the returned queue is a new reference we own and
        // destroy in Drop.
        let q = unsafe { sys::rd_kafka_queue_new(rk.raw()) };
        NonNull::new(q)
            .map(Queue)
            .ok_or_else(|| RdError::with_message(-1, "librdkafka could not create a queue"))
    }

    /// A new reference to the client's main queue (errors and logs land there).
    fn main(rk: Rk<'_>) -> Option<Queue> {
        // SAFETY: `rk` is live; `rd_kafka_queue_get_main` returns a new reference that must
        // be released with `rd_kafka_queue_destroy`, which Drop does.
        NonNull::new(unsafe { sys::rd_kafka_queue_get_main(rk.raw()) }).map(Queue)
    }

    fn ptr(&self) -> *mut sys::rd_kafka_queue_t {
        self.0.as_ptr()
    }

    /// Waits for the next event until `deadline` (an `Instant` in the past polls once).
    fn poll_until(&self, deadline: Instant) -> Option<Event> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = if left.is_zero() {
                0
            } else {
                millis(left).min(1000)
            };
            // SAFETY: the queue is live (we hold a reference); the returned event, if any,
            // is ours to destroy, which the `Event` guard does.
            let ev = unsafe { sys::rd_kafka_queue_poll(self.ptr(), ms) };
            if let Some(ev) = NonNull::new(ev) {
                return Some(Event(ev));
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: we own exactly one reference, released exactly once here.
        unsafe { sys::rd_kafka_queue_destroy(self.ptr()) }
    }
}

/// An owned event from `rd_kafka_queue_poll`.
struct Event(NonNull<sys::rd_kafka_event_t>);

impl Event {
    fn ptr(&self) -> *mut sys::rd_kafka_event_t {
        self.0.as_ptr()
    }

    fn kind(&self) -> c_int {
        // SAFETY: the event is live while `self` is.
        unsafe { sys::rd_kafka_event_type(self.ptr()) }
    }

    /// The event-level error, if any.
    fn error(&self) -> Option<RdError> {
        // SAFETY: the event is live; the error string belongs to the event and is copied.
        unsafe {
            let code = raw::rd_kafka_event_error(self.ptr());
            if code == 0 {
                None
            } else {
                let message = cstr_lossy(sys::rd_kafka_event_error_string(self.ptr()));
                Some(RdError::with_message(code, message))
            }
        }
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: we own the event; destroying it frees every result object read from it,
        // none of which outlives this guard.
        unsafe { sys::rd_kafka_event_destroy(self.ptr()) }
    }
}

/// Owned `rd_kafka_AdminOptions_t`.
struct Options(NonNull<sys::rd_kafka_AdminOptions_t>);

impl Options {
    fn new(rk: Rk<'_>, op: sys::rd_kafka_admin_op_t, timeout: Duration) -> Result<Self, RdError> {
        // SAFETY: `rk` is live; the options object is ours and destroyed in Drop.
        let p = unsafe { sys::rd_kafka_AdminOptions_new(rk.raw(), op) };
        let opts = Options(
            NonNull::new(p).ok_or_else(|| RdError::invalid_arg("unknown admin operation"))?,
        );
        let mut errstr = [0 as c_char; 512];
        // SAFETY: options live; errstr is a writable buffer of the size we pass, which
        // librdkafka NUL-terminates on error.
        let rc = unsafe {
            sys::rd_kafka_AdminOptions_set_request_timeout(
                opts.ptr(),
                millis(timeout),
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if rc != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            // SAFETY: errstr was NUL-terminated by librdkafka (and is zero-initialised).
            let msg = unsafe { cstr_lossy(errstr.as_ptr()) };
            return Err(RdError::with_message(code(rc), msg));
        }
        Ok(opts)
    }

    fn ptr(&self) -> *mut sys::rd_kafka_AdminOptions_t {
        self.0.as_ptr()
    }

    /// ListOffsets only: `read_committed` answers the last stable offset (LSO) for
    /// `latest` instead of the high watermark.
    fn read_committed(&self) -> Result<(), RdError> {
        // SAFETY: options live; a non-NULL return is a new error object we own.
        let err = unsafe {
            sys::rd_kafka_AdminOptions_set_isolation_level(
                self.ptr(),
                sys::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED,
            )
        };
        OwnedError::check(err)
    }

    fn include_authorized_operations(&self) -> Result<(), RdError> {
        // SAFETY: options live; a non-NULL return is a new error object we own.
        let err =
            unsafe { sys::rd_kafka_AdminOptions_set_include_authorized_operations(self.ptr(), 1) };
        OwnedError::check(err)
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: owned, destroyed once. librdkafka copied what it needed at enqueue time.
        unsafe { sys::rd_kafka_AdminOptions_destroy(self.ptr()) }
    }
}

/// An owned `rd_kafka_error_t` (returned by some setters).
struct OwnedError(NonNull<sys::rd_kafka_error_t>);

impl OwnedError {
    /// NULL means success; otherwise the error is converted and freed.
    fn check(err: *mut sys::rd_kafka_error_t) -> Result<(), RdError> {
        match NonNull::new(err) {
            None => Ok(()),
            Some(p) => {
                let guard = OwnedError(p);
                // SAFETY: the error object is live until `guard` drops.
                let e = unsafe { RdError::from_error_obj(guard.0.as_ptr()) };
                Err(e.unwrap_or_else(|| RdError::from_code(-1)))
            }
        }
    }
}

impl Drop for OwnedError {
    fn drop(&mut self) {
        // SAFETY: we own the error object.
        unsafe { sys::rd_kafka_error_destroy(self.0.as_ptr()) }
    }
}

/// Owned ACL bindings or filters (same C type), destroyed together.
struct AclBindings(Vec<NonNull<sys::rd_kafka_AclBinding_t>>);

impl AclBindings {
    fn ptrs(&mut self) -> Vec<*mut sys::rd_kafka_AclBinding_t> {
        self.0.iter().map(|p| p.as_ptr()).collect()
    }
}

impl Drop for AclBindings {
    fn drop(&mut self) {
        for p in &self.0 {
            // SAFETY: each binding was created by us and is destroyed once; CreateAcls,
            // DescribeAcls and DeleteAcls copy their arguments.
            unsafe { sys::rd_kafka_AclBinding_destroy(p.as_ptr()) }
        }
    }
}

/// Owned `rd_kafka_metadata_t`.
struct Metadata(NonNull<sys::rd_kafka_metadata_t>);

impl Drop for Metadata {
    fn drop(&mut self) {
        // SAFETY: returned by rd_kafka_metadata for us to free exactly once.
        unsafe { sys::rd_kafka_metadata_destroy(self.0.as_ptr()) }
    }
}

// ---------------------------------------------------------------------------------------
// The generic admin request
// ---------------------------------------------------------------------------------------

/// Runs one admin request: creates a private result queue and options (with the request
/// timeout), lets `submit` enqueue the request, and waits for the single result event
/// until the deadline. Checks the event type and the event-level error.
fn admin_request(
    rk: Rk<'_>,
    what: &str,
    op: sys::rd_kafka_admin_op_t,
    expected: c_int,
    timeout: Duration,
    configure: impl FnOnce(&Options) -> Result<(), RdError>,
    submit: impl FnOnce(
        *mut sys::rd_kafka_t,
        *const sys::rd_kafka_AdminOptions_t,
        *mut sys::rd_kafka_queue_t,
    ),
) -> Result<Event, RdError> {
    let deadline = crate::limits::deadline(Instant::now(), timeout);
    let queue = Queue::new(rk)?;
    let options = Options::new(rk, op, timeout)?;
    configure(&options)?;
    submit(rk.raw(), options.ptr(), queue.ptr());
    let event = queue
        .poll_until(deadline)
        .ok_or_else(|| RdError::timed_out(what))?;
    if let Some(err) = event.error() {
        return Err(err);
    }
    if event.kind() != expected {
        return Err(RdError::with_message(
            -1,
            format!("unexpected event type {} in reply to {what}", event.kind()),
        ));
    }
    Ok(event)
}

// ---------------------------------------------------------------------------------------
// Metadata, cluster id, main queue
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(super) struct RawTopic {
    pub name: String,
    pub err: i32,
    /// (partition id, error code)
    pub partitions: Vec<(i32, i32)>,
}

#[derive(Debug, Clone)]
pub(super) struct RawMetadata {
    /// (id, host, port)
    pub brokers: Vec<(i32, String, i32)>,
    pub topics: Vec<RawTopic>,
}

/// Metadata request. `all_topics = false` asks for brokers only (a cheap reachability and
/// authentication probe).
pub(super) fn metadata(
    rk: Rk<'_>,
    all_topics: bool,
    timeout: Duration,
) -> Result<RawMetadata, RdError> {
    let mut md: *const sys::rd_kafka_metadata_t = ptr::null();
    // SAFETY: `rk` is live; `md` is an out-parameter set on success to an object we must
    // free with rd_kafka_metadata_destroy (done by the `Metadata` guard).
    let rc = unsafe {
        raw::rd_kafka_metadata(
            rk.raw(),
            c_int::from(all_topics),
            ptr::null_mut(),
            &mut md,
            millis(timeout),
        )
    };
    if rc != 0 {
        return Err(RdError::from_code(rc));
    }
    let guard = Metadata(
        NonNull::new(md as *mut sys::rd_kafka_metadata_t)
            .ok_or_else(|| RdError::with_message(-1, "metadata call returned nothing"))?,
    );
    let md = guard.0.as_ptr();
    // SAFETY: `md` is live until `guard` drops at the end of this function; all counts and
    // arrays come from librdkafka and are consistent; everything is copied out.
    unsafe {
        let brokers = slice(
            (*md).brokers,
            usize::try_from((*md).broker_cnt).unwrap_or(0),
        )
        .iter()
        .map(|b| (b.id, cstr_lossy(b.host), b.port))
        .collect();
        let topics = slice((*md).topics, usize::try_from((*md).topic_cnt).unwrap_or(0))
            .iter()
            .map(|t| RawTopic {
                name: cstr_lossy(t.topic),
                err: read_err_field(ptr::addr_of!(t.err)),
                partitions: slice(t.partitions, usize::try_from(t.partition_cnt).unwrap_or(0))
                    .iter()
                    .map(|p| (p.id, read_err_field(ptr::addr_of!(p.err))))
                    .collect(),
            })
            .collect();
        Ok(RawMetadata { brokers, topics })
    }
}

/// The cluster id (`None`: not known within the timeout, or not supported by the broker).
pub(super) fn cluster_id(rk: Rk<'_>, timeout: Duration) -> Option<String> {
    // SAFETY: `rk` is live; a non-NULL result is a string allocated by librdkafka that we
    // copy and then free with rd_kafka_mem_free, as rdkafka.h requires.
    unsafe {
        let p = sys::rd_kafka_clusterid(rk.raw(), millis(timeout));
        if p.is_null() {
            return None;
        }
        let id = cstr_lossy(p);
        sys::rd_kafka_mem_free(rk.raw(), p as *mut c_void);
        Some(id)
    }
}

/// An event found on the client's main queue.
#[derive(Debug, Clone)]
pub(super) enum MainEvent {
    Error {
        error: RdError,
        fatal: bool,
    },
    Log {
        level: i32,
        facility: String,
        message: String,
    },
}

/// Takes (without waiting) up to `max` events from the client's main queue, where
/// librdkafka posts client-level errors (connection, authentication) and, because
/// rust-rdkafka sets `log.queue`, log lines. Nothing else polls the main queue of the
/// admin handle, so without this they would pile up.
pub(super) fn drain_main_queue(rk: Rk<'_>, max: usize) -> Vec<MainEvent> {
    let Some(queue) = Queue::main(rk) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while out.len() < max {
        // An instant in the past: poll once without waiting.
        let Some(ev) = queue.poll_until(Instant::now()) else {
            break;
        };
        match ev.kind() {
            sys::RD_KAFKA_EVENT_ERROR => {
                // SAFETY: the event is live; it is an ERROR event, for which is_fatal is valid.
                let fatal = unsafe { sys::rd_kafka_event_error_is_fatal(ev.ptr()) } != 0;
                if let Some(error) = ev.error() {
                    out.push(MainEvent::Error { error, fatal });
                }
            }
            sys::RD_KAFKA_EVENT_LOG => {
                let mut fac: *const c_char = ptr::null();
                let mut msg: *const c_char = ptr::null();
                let mut level: c_int = 0;
                // SAFETY: the event is live and of type LOG; the strings belong to the
                // event and are copied before it is destroyed.
                unsafe {
                    if sys::rd_kafka_event_log(ev.ptr(), &mut fac, &mut msg, &mut level) == 0 {
                        out.push(MainEvent::Log {
                            level,
                            facility: cstr_lossy(fac),
                            message: cstr_lossy(msg),
                        });
                    }
                }
            }
            // Anything else (stats, delivery reports of nothing) is dropped.
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// DescribeCluster
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(super) struct RawNode {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// Reads a node.
///
/// # Safety
/// `node` must be NULL or point to a live node.
unsafe fn read_node(node: *const sys::rd_kafka_Node_t) -> Option<RawNode> {
    if node.is_null() {
        return None;
    }
    Some(RawNode {
        id: sys::rd_kafka_Node_id(node),
        host: cstr_lossy(sys::rd_kafka_Node_host(node)),
        port: sys::rd_kafka_Node_port(node),
    })
}

#[derive(Debug, Clone)]
pub(super) struct RawCluster {
    pub cluster_id: Option<String>,
    pub controller: Option<RawNode>,
    pub nodes: Vec<RawNode>,
    pub authorized_operations: Option<Vec<AclOperation>>,
}

/// DescribeCluster with our principal's authorized operations on the cluster resource.
pub(super) fn describe_cluster(rk: Rk<'_>, timeout: Duration) -> Result<RawCluster, RdError> {
    let ev = admin_request(
        rk,
        "DescribeCluster",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
        sys::RD_KAFKA_EVENT_DESCRIBECLUSTER_RESULT,
        timeout,
        |o| o.include_authorized_operations(),
        // SAFETY: all pointers are live for the call; librdkafka copies the options.
        |rk, o, q| unsafe { sys::rd_kafka_DescribeCluster(rk, o, q) },
    )?;
    // SAFETY: `ev` is a live DESCRIBECLUSTER_RESULT event; the result and everything read
    // from it live as long as `ev`, and are copied.
    unsafe {
        let res = sys::rd_kafka_event_DescribeCluster_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(
                -1,
                "DescribeCluster returned no result",
            ));
        }
        let mut n = 0usize;
        let nodes = sys::rd_kafka_DescribeCluster_result_nodes(res, &mut n);
        let nodes = slice(nodes, n)
            .iter()
            .filter_map(|&p| read_node(p))
            .collect();
        let mut n_ops = 0usize;
        let ops = raw::rd_kafka_DescribeCluster_result_authorized_operations(res, &mut n_ops);
        Ok(RawCluster {
            cluster_id: cstr_opt(sys::rd_kafka_DescribeCluster_result_cluster_id(res)),
            controller: read_node(sys::rd_kafka_DescribeCluster_result_controller(res)),
            nodes,
            authorized_operations: acl_ops(ops, n_ops),
        })
    }
}

// ---------------------------------------------------------------------------------------
// DescribeTopics (topic ids)
// ---------------------------------------------------------------------------------------

/// One DescribeTopics answer: the topic's id (base64, as Kafka's tools print it; `None`
/// when the broker reports none, i.e. before topic ids, Kafka 2.8) or its error code.
#[derive(Debug, Clone)]
pub(super) struct RawTopicId {
    pub name: String,
    pub topic_id: Option<String>,
    pub err: i32,
}

/// DescribeTopics (Metadata v10+ under the hood) for `topics`: each topic's id, which
/// changes when a topic is deleted and created again under the same name.
pub(super) fn describe_topic_ids(
    rk: Rk<'_>,
    topics: &[&str],
    timeout: Duration,
) -> Result<Vec<RawTopicId>, RdError> {
    let names: Vec<CString> = topics
        .iter()
        .map(|t| c_string(t, "topic name"))
        .collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*const c_char> = names.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: `ptrs` points at `names`, live for the call; librdkafka copies the names.
    let collection =
        unsafe { sys::rd_kafka_TopicCollection_of_topic_names(ptrs.as_mut_ptr(), ptrs.len()) };
    let collection = TopicCollection(
        NonNull::new(collection)
            .ok_or_else(|| RdError::with_message(-1, "cannot build the topic collection"))?,
    );
    let ev = admin_request(
        rk,
        "DescribeTopics",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
        sys::RD_KAFKA_EVENT_DESCRIBETOPICS_RESULT,
        timeout,
        |_| Ok(()),
        // SAFETY: the collection outlives the call (its guard drops at the end of this
        // function) and librdkafka copies it.
        |rk, o, q| unsafe { sys::rd_kafka_DescribeTopics(rk, collection.0.as_ptr(), o, q) },
    )?;
    // SAFETY: `ev` is a live DESCRIBETOPICS_RESULT event; the descriptions, names, ids and
    // errors read from it live as long as it and are copied.
    unsafe {
        let res = sys::rd_kafka_event_DescribeTopics_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(
                -1,
                "DescribeTopics returned no result",
            ));
        }
        let mut n = 0usize;
        let descs = sys::rd_kafka_DescribeTopics_result_topics(res, &mut n);
        let mut out = Vec::with_capacity(n);
        for &d in slice(descs, n) {
            if d.is_null() {
                continue;
            }
            let err = RdError::from_error_obj(sys::rd_kafka_TopicDescription_error(d))
                .map_or(0, |e| e.code);
            let id = sys::rd_kafka_TopicDescription_topic_id(d);
            let topic_id = if id.is_null() {
                None
            } else {
                cstr_opt(sys::rd_kafka_Uuid_base64str(id))
            }
            // The zero UUID is Kafka's "no id".
            .filter(|s| s != "AAAAAAAAAAAAAAAAAAAAAA");
            out.push(RawTopicId {
                name: cstr_lossy(sys::rd_kafka_TopicDescription_name(d)),
                topic_id,
                err,
            });
        }
        Ok(out)
    }
}

/// Owns a topic collection until it is destroyed.
struct TopicCollection(NonNull<sys::rd_kafka_TopicCollection_t>);

impl Drop for TopicCollection {
    fn drop(&mut self) {
        // SAFETY: the pointer came from rd_kafka_TopicCollection_of_topic_names and is
        // destroyed once.
        unsafe { sys::rd_kafka_TopicCollection_destroy(self.0.as_ptr()) }
    }
}

// ---------------------------------------------------------------------------------------
// ListOffsets
// ---------------------------------------------------------------------------------------

/// One ListOffsets answer: `offset` is -1 when no record matches (timestamp queries).
#[derive(Debug, Clone)]
pub(super) struct RawListedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub err: i32,
}

/// ListOffsets: for each `(topic, partition, spec)`, spec being -2 (earliest), -1 (latest)
/// or a timestamp in ms (earliest offset whose timestamp is >= it). With `read_committed`,
/// -1 answers the last stable offset (LSO) rather than the high watermark.
pub(super) fn list_offsets(
    rk: Rk<'_>,
    queries: &[(&str, i32, i64)],
    read_committed: bool,
    timeout: Duration,
) -> Result<Vec<RawListedOffset>, RdError> {
    let mut tpl = TopicPartitionList::with_capacity(queries.len());
    for &(topic, partition, spec) in queries {
        c_string(topic, "topic name")?;
        tpl.add_partition_offset(topic, partition, rdkafka::Offset::from_raw(spec))
            .map_err(|e| RdError::invalid_arg(e.to_string()))?;
    }
    let ev = admin_request(
        rk,
        "ListOffsets",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
        sys::RD_KAFKA_EVENT_LISTOFFSETS_RESULT,
        timeout,
        |o| {
            if read_committed {
                o.read_committed()
            } else {
                Ok(())
            }
        },
        // SAFETY: `tpl` outlives the call and librdkafka copies it (rd_kafka_ListOffsets
        // copies the list before returning).
        |rk, o, q| unsafe { sys::rd_kafka_ListOffsets(rk, tpl.ptr(), o, q) },
    )?;
    // SAFETY: `ev` is a live LISTOFFSETS_RESULT event; infos and their partitions live as
    // long as it and are copied.
    unsafe {
        let res = sys::rd_kafka_event_ListOffsets_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(-1, "ListOffsets returned no result"));
        }
        let mut n = 0usize;
        let infos = sys::rd_kafka_ListOffsets_result_infos(res, &mut n);
        let mut out = Vec::with_capacity(n);
        for &info in slice(infos, n) {
            let tp = sys::rd_kafka_ListOffsetsResultInfo_topic_partition(info);
            if tp.is_null() {
                continue;
            }
            out.push(RawListedOffset {
                topic: cstr_lossy((*tp).topic),
                partition: (*tp).partition,
                offset: (*tp).offset,
                err: read_err_field(ptr::addr_of!((*tp).err)),
            });
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(super) struct RawGroupListing {
    pub group: String,
    pub state: i64,
    pub is_simple: bool,
    pub group_type: i64,
}

/// ListConsumerGroups: the valid listings and the per-broker errors.
pub(super) fn list_consumer_groups(
    rk: Rk<'_>,
    timeout: Duration,
) -> Result<(Vec<RawGroupListing>, Vec<RdError>), RdError> {
    let ev = admin_request(
        rk,
        "ListConsumerGroups",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
        sys::RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT,
        timeout,
        |_| Ok(()),
        // SAFETY: pointers live for the call.
        |rk, o, q| unsafe { sys::rd_kafka_ListConsumerGroups(rk, o, q) },
    )?;
    // SAFETY: `ev` is a live LISTCONSUMERGROUPS_RESULT event; listings and errors live as
    // long as it and are copied.
    unsafe {
        let res = sys::rd_kafka_event_ListConsumerGroups_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(
                -1,
                "ListConsumerGroups returned no result",
            ));
        }
        let mut n = 0usize;
        let valid = sys::rd_kafka_ListConsumerGroups_result_valid(res, &mut n);
        let listings = slice(valid, n)
            .iter()
            .map(|&g| RawGroupListing {
                group: cstr_lossy(sys::rd_kafka_ConsumerGroupListing_group_id(g)),
                state: raw::rd_kafka_ConsumerGroupListing_state(g) as i64,
                is_simple: sys::rd_kafka_ConsumerGroupListing_is_simple_consumer_group(g) != 0,
                group_type: raw::rd_kafka_ConsumerGroupListing_type(g) as i64,
            })
            .collect();
        let mut n_err = 0usize;
        let errs = sys::rd_kafka_ListConsumerGroups_result_errors(res, &mut n_err);
        let errors = slice(errs, n_err)
            .iter()
            .filter_map(|&e| RdError::from_error_obj(e))
            .collect();
        Ok((listings, errors))
    }
}

#[derive(Debug, Clone)]
pub(super) struct RawMember {
    pub client_id: String,
    pub consumer_id: String,
    pub host: String,
    pub group_instance_id: Option<String>,
    pub assignment: Vec<(String, i32)>,
}

#[derive(Debug, Clone)]
pub(super) struct RawGroupDescription {
    pub group: String,
    pub error: Option<RdError>,
    pub state: i64,
    pub is_simple: bool,
    pub members: Vec<RawMember>,
    pub coordinator: Option<i32>,
    pub authorized_operations: Option<Vec<AclOperation>>,
}

/// DescribeConsumerGroups (with our principal's authorized operations on each group).
pub(super) fn describe_consumer_groups(
    rk: Rk<'_>,
    groups: &[&str],
    timeout: Duration,
) -> Result<Vec<RawGroupDescription>, RdError> {
    let c_groups = groups
        .iter()
        .map(|g| c_string(g, "group name"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const c_char> = c_groups.iter().map(|g| g.as_ptr()).collect();
    let ev = admin_request(
        rk,
        "DescribeConsumerGroups",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
        sys::RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT,
        timeout,
        |o| o.include_authorized_operations(),
        // SAFETY: `c_groups` (which `ptrs` points into) outlives the call; librdkafka
        // copies the group names.
        |rk, o, q| unsafe {
            sys::rd_kafka_DescribeConsumerGroups(rk, ptrs.as_mut_ptr(), ptrs.len(), o, q)
        },
    )?;
    // SAFETY: `ev` is a live DESCRIBECONSUMERGROUPS_RESULT event; descriptions, members,
    // assignments and nodes live as long as it and are copied.
    unsafe {
        let res = sys::rd_kafka_event_DescribeConsumerGroups_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(
                -1,
                "DescribeConsumerGroups returned no result",
            ));
        }
        let mut n = 0usize;
        let descs = sys::rd_kafka_DescribeConsumerGroups_result_groups(res, &mut n);
        let mut out = Vec::with_capacity(n);
        for &d in slice(descs, n) {
            let n_members = sys::rd_kafka_ConsumerGroupDescription_member_count(d);
            let mut members = Vec::with_capacity(n_members);
            for i in 0..n_members {
                let m = sys::rd_kafka_ConsumerGroupDescription_member(d, i);
                if m.is_null() {
                    continue;
                }
                let assignment = sys::rd_kafka_MemberDescription_assignment(m);
                let assignment = if assignment.is_null() {
                    Vec::new()
                } else {
                    read_tpl(sys::rd_kafka_MemberAssignment_partitions(assignment))
                        .into_iter()
                        .map(|p| (p.topic, p.partition))
                        .collect()
                };
                members.push(RawMember {
                    client_id: cstr_lossy(sys::rd_kafka_MemberDescription_client_id(m)),
                    consumer_id: cstr_lossy(sys::rd_kafka_MemberDescription_consumer_id(m)),
                    host: cstr_lossy(sys::rd_kafka_MemberDescription_host(m)),
                    group_instance_id: cstr_opt(sys::rd_kafka_MemberDescription_group_instance_id(
                        m,
                    )),
                    assignment,
                });
            }
            let mut n_ops = 0usize;
            let ops = raw::rd_kafka_ConsumerGroupDescription_authorized_operations(d, &mut n_ops);
            out.push(RawGroupDescription {
                group: cstr_lossy(sys::rd_kafka_ConsumerGroupDescription_group_id(d)),
                error: RdError::from_error_obj(sys::rd_kafka_ConsumerGroupDescription_error(d)),
                state: raw::rd_kafka_ConsumerGroupDescription_state(d) as i64,
                is_simple: sys::rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d) != 0,
                members,
                coordinator: read_node(sys::rd_kafka_ConsumerGroupDescription_coordinator(d))
                    .map(|n| n.id),
                authorized_operations: acl_ops(ops, n_ops),
            });
        }
        Ok(out)
    }
}

/// Reads the single group result of a List/AlterConsumerGroupOffsets event.
///
/// # Safety
/// `groups`/`n` must come from a live result event, which must outlive the call.
unsafe fn read_group_result(
    groups: *const *const sys::rd_kafka_group_result_t,
    n: usize,
) -> Result<Vec<RawPartition>, RdError> {
    let Some(&g) = slice(groups, n).first() else {
        return Err(RdError::with_message(-1, "no group in the result"));
    };
    if let Some(err) = RdError::from_error_obj(sys::rd_kafka_group_result_error(g)) {
        return Err(err);
    }
    Ok(read_tpl(sys::rd_kafka_group_result_partitions(g)))
}

/// ListConsumerGroupOffsets for one group, all partitions it has committed offsets for.
pub(super) fn list_group_offsets(
    rk: Rk<'_>,
    group: &str,
    timeout: Duration,
) -> Result<Vec<RawPartition>, RdError> {
    let c_group = c_string(group, "group name")?;

    /// Owned request object.
    struct Request(NonNull<sys::rd_kafka_ListConsumerGroupOffsets_t>);
    impl Drop for Request {
        fn drop(&mut self) {
            // SAFETY: created by us, destroyed once; the call copied it.
            unsafe { sys::rd_kafka_ListConsumerGroupOffsets_destroy(self.0.as_ptr()) }
        }
    }
    // SAFETY: `c_group` is a valid C string (copied); NULL partitions means "all".
    let req = unsafe { sys::rd_kafka_ListConsumerGroupOffsets_new(c_group.as_ptr(), ptr::null()) };
    let req =
        Request(NonNull::new(req).ok_or_else(|| RdError::invalid_arg("cannot build request"))?);
    let mut reqs = [req.0.as_ptr()];
    let ev = admin_request(
        rk,
        "ListConsumerGroupOffsets",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
        sys::RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT,
        timeout,
        |_| Ok(()),
        // SAFETY: exactly one live request object, copied by librdkafka.
        |rk, o, q| unsafe {
            sys::rd_kafka_ListConsumerGroupOffsets(rk, reqs.as_mut_ptr(), 1, o, q)
        },
    )?;
    // SAFETY: `ev` is a live LISTCONSUMERGROUPOFFSETS_RESULT event.
    unsafe {
        let res = sys::rd_kafka_event_ListConsumerGroupOffsets_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(
                -1,
                "ListConsumerGroupOffsets returned no result",
            ));
        }
        let mut n = 0usize;
        let groups = sys::rd_kafka_ListConsumerGroupOffsets_result_groups(res, &mut n);
        read_group_result(groups, n)
    }
}

/// AlterConsumerGroupOffsets for one group: `(topic, partition, offset, metadata)`.
/// Returns the per-partition results (err 0 on success).
pub(super) fn alter_group_offsets(
    rk: Rk<'_>,
    group: &str,
    offsets: &[(&str, i32, i64, Option<&str>)],
    timeout: Duration,
) -> Result<Vec<RawPartition>, RdError> {
    let c_group = c_string(group, "group name")?;
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for &(topic, partition, offset, metadata) in offsets {
        c_string(topic, "topic name")?;
        if offset < 0 {
            return Err(RdError::invalid_arg(format!(
                "offset {offset} for `{topic}` partition {partition} is negative"
            )));
        }
        tpl.add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))
            .map_err(|e| RdError::invalid_arg(e.to_string()))?;
        if let Some(md) = metadata {
            if let Some(mut elem) = tpl.find_partition(topic, partition) {
                elem.set_metadata(md);
            }
        }
    }

    /// Owned request object.
    struct Request(NonNull<sys::rd_kafka_AlterConsumerGroupOffsets_t>);
    impl Drop for Request {
        fn drop(&mut self) {
            // SAFETY: created by us, destroyed once; the call copied it.
            unsafe { sys::rd_kafka_AlterConsumerGroupOffsets_destroy(self.0.as_ptr()) }
        }
    }
    // SAFETY: `c_group` and `tpl` are live; `_new` copies both.
    let req = unsafe { sys::rd_kafka_AlterConsumerGroupOffsets_new(c_group.as_ptr(), tpl.ptr()) };
    let req =
        Request(NonNull::new(req).ok_or_else(|| RdError::invalid_arg("cannot build request"))?);
    let mut reqs = [req.0.as_ptr()];
    let ev = admin_request(
        rk,
        "AlterConsumerGroupOffsets",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS,
        sys::RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT,
        timeout,
        |_| Ok(()),
        // SAFETY: exactly one live request object, copied by librdkafka.
        |rk, o, q| unsafe {
            sys::rd_kafka_AlterConsumerGroupOffsets(rk, reqs.as_mut_ptr(), 1, o, q)
        },
    )?;
    // SAFETY: `ev` is a live ALTERCONSUMERGROUPOFFSETS_RESULT event.
    unsafe {
        let res = sys::rd_kafka_event_AlterConsumerGroupOffsets_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(
                -1,
                "AlterConsumerGroupOffsets returned no result",
            ));
        }
        let mut n = 0usize;
        let groups = sys::rd_kafka_AlterConsumerGroupOffsets_result_groups(res, &mut n);
        read_group_result(groups, n)
    }
}

// ---------------------------------------------------------------------------------------
// ACLs
// ---------------------------------------------------------------------------------------

fn restype_to_c(t: ResourceType) -> Result<sys::rd_kafka_ResourceType_t, RdError> {
    use sys::rd_kafka_ResourceType_t as R;
    Ok(match t {
        ResourceType::Topic => R::RD_KAFKA_RESOURCE_TOPIC,
        ResourceType::Group => R::RD_KAFKA_RESOURCE_GROUP,
        // Kafka's CLUSTER resource type (4) is librdkafka's "BROKER".
        ResourceType::Cluster => R::RD_KAFKA_RESOURCE_BROKER,
        ResourceType::TransactionalId => R::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
        ResourceType::Unknown => return Err(RdError::invalid_arg("unknown ACL resource type")),
    })
}

fn restype_from_c(v: c_int) -> ResourceType {
    match v {
        2 => ResourceType::Topic,
        3 => ResourceType::Group,
        4 => ResourceType::Cluster,
        5 => ResourceType::TransactionalId,
        _ => ResourceType::Unknown,
    }
}

fn pattern_to_c(p: PatternType) -> Result<sys::rd_kafka_ResourcePatternType_t, RdError> {
    use sys::rd_kafka_ResourcePatternType_t as P;
    Ok(match p {
        PatternType::Literal => P::RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        PatternType::Prefixed => P::RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
        PatternType::Unknown => return Err(RdError::invalid_arg("unknown ACL pattern type")),
    })
}

fn pattern_from_c(v: c_int) -> PatternType {
    match v {
        3 => PatternType::Literal,
        4 => PatternType::Prefixed,
        _ => PatternType::Unknown,
    }
}

fn operation_to_c(o: AclOperation) -> Result<sys::rd_kafka_AclOperation_t, RdError> {
    use sys::rd_kafka_AclOperation_t as O;
    Ok(match o {
        AclOperation::All => O::RD_KAFKA_ACL_OPERATION_ALL,
        AclOperation::Read => O::RD_KAFKA_ACL_OPERATION_READ,
        AclOperation::Write => O::RD_KAFKA_ACL_OPERATION_WRITE,
        AclOperation::Create => O::RD_KAFKA_ACL_OPERATION_CREATE,
        AclOperation::Delete => O::RD_KAFKA_ACL_OPERATION_DELETE,
        AclOperation::Alter => O::RD_KAFKA_ACL_OPERATION_ALTER,
        AclOperation::Describe => O::RD_KAFKA_ACL_OPERATION_DESCRIBE,
        AclOperation::ClusterAction => O::RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        AclOperation::DescribeConfigs => O::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        AclOperation::AlterConfigs => O::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        AclOperation::IdempotentWrite => O::RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
        AclOperation::Unknown => return Err(RdError::invalid_arg("unknown ACL operation")),
    })
}

fn permission_to_c(p: AclPermission) -> Result<sys::rd_kafka_AclPermissionType_t, RdError> {
    use sys::rd_kafka_AclPermissionType_t as P;
    Ok(match p {
        AclPermission::Allow => P::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
        AclPermission::Deny => P::RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
        AclPermission::Unknown => return Err(RdError::invalid_arg("unknown ACL permission")),
    })
}

fn permission_from_c(v: c_int) -> AclPermission {
    match v {
        2 => AclPermission::Deny,
        3 => AclPermission::Allow,
        _ => AclPermission::Unknown,
    }
}

/// Reads an ACL binding.
///
/// # Safety
/// `acl` must point to a live binding.
unsafe fn read_acl(acl: *const sys::rd_kafka_AclBinding_t) -> AclBinding {
    AclBinding {
        resource_type: restype_from_c(raw::rd_kafka_AclBinding_restype(acl)),
        name: cstr_lossy(sys::rd_kafka_AclBinding_name(acl)),
        pattern: pattern_from_c(raw::rd_kafka_AclBinding_resource_pattern_type(acl)),
        principal: cstr_lossy(sys::rd_kafka_AclBinding_principal(acl)),
        host: cstr_lossy(sys::rd_kafka_AclBinding_host(acl)),
        operation: AclOperation::from_raw(raw::rd_kafka_AclBinding_operation(acl) as i64),
        permission: permission_from_c(raw::rd_kafka_AclBinding_permission_type(acl)),
    }
}

/// Builds owned C bindings for CreateAcls.
fn new_bindings(acls: &[AclBinding]) -> Result<AclBindings, RdError> {
    let mut owned = AclBindings(Vec::with_capacity(acls.len()));
    for acl in acls {
        let name = c_string(&acl.name, "ACL resource name")?;
        let principal = c_string(&acl.principal, "ACL principal")?;
        let host = c_string(&acl.host, "ACL host")?;
        let mut errstr = [0 as c_char; 512];
        // SAFETY: all strings are valid C strings for the call (librdkafka copies them);
        // errstr is writable with the given size. A non-NULL result is ours (pushed into
        // the guard right away, so it is freed on every later error path).
        let p = unsafe {
            sys::rd_kafka_AclBinding_new(
                restype_to_c(acl.resource_type)?,
                name.as_ptr(),
                pattern_to_c(acl.pattern)?,
                principal.as_ptr(),
                host.as_ptr(),
                operation_to_c(acl.operation)?,
                permission_to_c(acl.permission)?,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        match NonNull::new(p) {
            Some(p) => owned.0.push(p),
            // SAFETY: errstr is zero-initialised and NUL-terminated by librdkafka.
            None => return Err(RdError::invalid_arg(unsafe { cstr_lossy(errstr.as_ptr()) })),
        }
    }
    Ok(owned)
}

/// Builds owned C filters for DescribeAcls/DeleteAcls.
fn new_filters(filters: &[AclFilter]) -> Result<AclBindings, RdError> {
    use sys::rd_kafka_AclOperation_t as O;
    use sys::rd_kafka_AclPermissionType_t as P;
    use sys::rd_kafka_ResourcePatternType_t as PT;
    use sys::rd_kafka_ResourceType_t as R;
    let mut owned = AclBindings(Vec::with_capacity(filters.len()));
    for f in filters {
        let name = f
            .name
            .as_deref()
            .map(|s| c_string(s, "ACL resource name"))
            .transpose()?;
        let principal = f
            .principal
            .as_deref()
            .map(|s| c_string(s, "ACL principal"))
            .transpose()?;
        let host = f
            .host
            .as_deref()
            .map(|s| c_string(s, "ACL host"))
            .transpose()?;
        let restype = f
            .resource_type
            .map(restype_to_c)
            .transpose()?
            .unwrap_or(R::RD_KAFKA_RESOURCE_ANY);
        let pattern = f
            .pattern
            .map(pattern_to_c)
            .transpose()?
            .unwrap_or(PT::RD_KAFKA_RESOURCE_PATTERN_ANY);
        let operation = f
            .operation
            .map(operation_to_c)
            .transpose()?
            .unwrap_or(O::RD_KAFKA_ACL_OPERATION_ANY);
        let permission = f
            .permission
            .map(permission_to_c)
            .transpose()?
            .unwrap_or(P::RD_KAFKA_ACL_PERMISSION_TYPE_ANY);
        let as_ptr = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        let mut errstr = [0 as c_char; 512];
        // SAFETY: strings are valid C strings or NULL ("any"), copied by librdkafka;
        // errstr is writable. A non-NULL result is ours (guarded right away).
        let p = unsafe {
            sys::rd_kafka_AclBindingFilter_new(
                restype,
                as_ptr(&name),
                pattern,
                as_ptr(&principal),
                as_ptr(&host),
                operation,
                permission,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        match NonNull::new(p) {
            Some(p) => owned.0.push(p),
            // SAFETY: errstr is zero-initialised and NUL-terminated by librdkafka.
            None => return Err(RdError::invalid_arg(unsafe { cstr_lossy(errstr.as_ptr()) })),
        }
    }
    Ok(owned)
}

/// CreateAcls: one result per binding, in order (`None` = created or already present).
pub(super) fn create_acls(
    rk: Rk<'_>,
    acls: &[AclBinding],
    timeout: Duration,
) -> Result<Vec<Option<RdError>>, RdError> {
    let mut bindings = new_bindings(acls)?;
    let mut ptrs = bindings.ptrs();
    let ev = admin_request(
        rk,
        "CreateAcls",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
        sys::RD_KAFKA_EVENT_CREATEACLS_RESULT,
        timeout,
        |_| Ok(()),
        // SAFETY: `bindings` (owning what `ptrs` points to) outlives the call; librdkafka
        // copies each binding.
        |rk, o, q| unsafe { sys::rd_kafka_CreateAcls(rk, ptrs.as_mut_ptr(), ptrs.len(), o, q) },
    )?;
    // SAFETY: `ev` is a live CREATEACLS_RESULT event; results live as long as it.
    unsafe {
        let res = sys::rd_kafka_event_CreateAcls_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(-1, "CreateAcls returned no result"));
        }
        let mut n = 0usize;
        let results = sys::rd_kafka_CreateAcls_result_acls(res, &mut n);
        Ok(slice(results, n)
            .iter()
            .map(|&r| RdError::from_error_obj(sys::rd_kafka_acl_result_error(r)))
            .collect())
    }
}

/// DescribeAcls with one filter.
pub(super) fn describe_acls(
    rk: Rk<'_>,
    filter: &AclFilter,
    timeout: Duration,
) -> Result<Vec<AclBinding>, RdError> {
    let mut filters = new_filters(std::slice::from_ref(filter))?;
    let ptrs = filters.ptrs();
    let ev = admin_request(
        rk,
        "DescribeAcls",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
        sys::RD_KAFKA_EVENT_DESCRIBEACLS_RESULT,
        timeout,
        |_| Ok(()),
        // SAFETY: the filter is live for the call and copied by librdkafka.
        |rk, o, q| unsafe { sys::rd_kafka_DescribeAcls(rk, ptrs[0], o, q) },
    )?;
    // SAFETY: `ev` is a live DESCRIBEACLS_RESULT event; bindings live as long as it.
    unsafe {
        let res = sys::rd_kafka_event_DescribeAcls_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(-1, "DescribeAcls returned no result"));
        }
        let mut n = 0usize;
        let acls = sys::rd_kafka_DescribeAcls_result_acls(res, &mut n);
        Ok(slice(acls, n).iter().map(|&a| read_acl(a)).collect())
    }
}

/// DeleteAcls: per filter, the bindings deleted or the error.
pub(super) fn delete_acls(
    rk: Rk<'_>,
    filters: &[AclFilter],
    timeout: Duration,
) -> Result<Vec<Result<Vec<AclBinding>, RdError>>, RdError> {
    let mut owned = new_filters(filters)?;
    let mut ptrs = owned.ptrs();
    let ev = admin_request(
        rk,
        "DeleteAcls",
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
        sys::RD_KAFKA_EVENT_DELETEACLS_RESULT,
        timeout,
        |_| Ok(()),
        // SAFETY: `owned` outlives the call; librdkafka copies each filter.
        |rk, o, q| unsafe { sys::rd_kafka_DeleteAcls(rk, ptrs.as_mut_ptr(), ptrs.len(), o, q) },
    )?;
    // SAFETY: `ev` is a live DELETEACLS_RESULT event; responses and their bindings live as
    // long as it and are copied.
    unsafe {
        let res = sys::rd_kafka_event_DeleteAcls_result(ev.ptr());
        if res.is_null() {
            return Err(RdError::with_message(-1, "DeleteAcls returned no result"));
        }
        let mut n = 0usize;
        let responses = sys::rd_kafka_DeleteAcls_result_responses(res, &mut n);
        Ok(slice(responses, n)
            .iter()
            .map(|&r| {
                match RdError::from_error_obj(sys::rd_kafka_DeleteAcls_result_response_error(r)) {
                    Some(err) => Err(err),
                    None => {
                        let mut m = 0usize;
                        let acls =
                            sys::rd_kafka_DeleteAcls_result_response_matching_acls(r, &mut m);
                        Ok(slice(acls, m).iter().map(|&a| read_acl(a)).collect())
                    }
                }
            })
            .collect())
    }
}

// ---------------------------------------------------------------------------------------
// Record headers
// ---------------------------------------------------------------------------------------

/// The headers of a consumed message, byte-exact and in order. (rust-rdkafka's accessor
/// panics on header names that are not UTF-8; here they are decoded lossily instead.)
pub(super) fn message_headers(msg: &BorrowedMessage<'_>) -> Result<Vec<RecordHeader>, RdError> {
    let mut hdrs: *mut sys::rd_kafka_headers_t = ptr::null_mut();
    // SAFETY: `msg` borrows a live message (the borrow keeps it alive for this call); the
    // headers object returned belongs to the message and is only read here.
    unsafe {
        let rc = raw::rd_kafka_message_headers(msg.ptr(), &mut hdrs);
        if rc == code(sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__NOENT) || hdrs.is_null() {
            return Ok(Vec::new());
        }
        if rc != 0 {
            return Err(RdError::from_code(rc));
        }
        let n = sys::rd_kafka_header_cnt(hdrs);
        let mut out = Vec::with_capacity(n);
        for idx in 0..n {
            let mut name: *const c_char = ptr::null();
            let mut value: *const c_void = ptr::null();
            let mut size = 0usize;
            let rc = raw::rd_kafka_header_get_all(hdrs, idx, &mut name, &mut value, &mut size);
            if rc != 0 {
                return Err(RdError::from_code(rc));
            }
            let value = if value.is_null() {
                None
            } else {
                Some(slice(value as *const u8, size).to_vec())
            };
            out.push((cstr_lossy(name), value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_come_from_librdkafka() {
        let e = RdError::from_code(29);
        assert_eq!(e.name, "TOPIC_AUTHORIZATION_FAILED");
        // A code unknown to this librdkafka must not be undefined behaviour.
        let e = RdError::from_code(12345);
        assert!(!e.name.is_empty() || !e.message.is_empty());
        let e = RdError::timed_out("ListOffsets");
        assert_eq!(e.name, "_TIMED_OUT");
    }

    #[test]
    fn acl_enums_round_trip_through_c_values() {
        for t in [
            ResourceType::Topic,
            ResourceType::Group,
            ResourceType::Cluster,
            ResourceType::TransactionalId,
        ] {
            assert_eq!(restype_from_c(restype_to_c(t).unwrap() as c_int), t);
        }
        for p in [PatternType::Literal, PatternType::Prefixed] {
            assert_eq!(pattern_from_c(pattern_to_c(p).unwrap() as c_int), p);
        }
        for p in [AclPermission::Allow, AclPermission::Deny] {
            assert_eq!(permission_from_c(permission_to_c(p).unwrap() as c_int), p);
        }
        for o in [
            AclOperation::All,
            AclOperation::Read,
            AclOperation::Write,
            AclOperation::Create,
            AclOperation::Delete,
            AclOperation::Alter,
            AclOperation::Describe,
            AclOperation::ClusterAction,
            AclOperation::DescribeConfigs,
            AclOperation::AlterConfigs,
            AclOperation::IdempotentWrite,
        ] {
            assert_eq!(AclOperation::from_raw(operation_to_c(o).unwrap() as i64), o);
        }
        assert!(restype_to_c(ResourceType::Unknown).is_err());
    }

    #[test]
    fn bindings_and_filters_build_and_free() {
        let acl = AclBinding::literal(
            AclPermission::Deny,
            AclOperation::Write,
            ResourceType::Topic,
            "orders",
            "User:mirror",
        );
        let mut b = new_bindings(std::slice::from_ref(&acl)).unwrap();
        // SAFETY (test): the binding is live while `b` is.
        let back = unsafe { read_acl(b.ptrs()[0]) };
        assert_eq!(back, acl);
        let f = new_filters(&[AclFilter::any(), acl.to_filter()]).unwrap();
        assert_eq!(f.0.len(), 2);
        let bad = AclBinding {
            name: "a\0b".into(),
            ..acl
        };
        assert!(new_bindings(&[bad]).is_err());
    }
}
