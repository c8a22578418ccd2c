//! The objects loaded in this process, and symbols looked up in one object
//! only. Used off the fast path: forwarding a setter whose definition lives
//! in an `RTLD_LOCAL` library, and lowering loaded pools.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

type DlsymFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;

/// libc's `dlsym`, found with `dlvsym` so that it never resolves to the
/// `dlsym` this library exports. The `dlsym` hook's tail jump reads this word.
pub static REAL_DLSYM: AtomicUsize = AtomicUsize::new(0);

pub fn real_dlsym() -> Option<DlsymFn> {
    let mut addr = REAL_DLSYM.load(Ordering::Acquire);
    if addr == 0 {
        // The default version first, then the versions older glibcs and
        // other architectures define it under.
        for version in [c"GLIBC_2.34", c"GLIBC_2.2.5", c"GLIBC_2.17", c"GLIBC_2.0"] {
            // SAFETY: RTLD_NEXT with NUL-terminated strings; dlvsym is not
            // interposed by this library.
            addr = unsafe { libc::dlvsym(libc::RTLD_NEXT, c"dlsym".as_ptr(), version.as_ptr()) }
                as usize;
            if addr != 0 {
                break;
            }
        }
        if addr == 0 {
            return None;
        }
        REAL_DLSYM.store(addr, Ordering::Release);
    }
    // SAFETY: `addr` is libc's dlsym, whose prototype DlsymFn mirrors.
    Some(unsafe { std::mem::transmute::<usize, DlsymFn>(addr) })
}

/// Looks `name` up with libc's `dlsym` in `handle`'s scope.
pub fn lookup(handle: *mut c_void, name: &CStr) -> usize {
    match real_dlsym() {
        // SAFETY: a handle from dlopen (or a pseudo-handle) and a C string.
        Some(dlsym) => unsafe { dlsym(handle, name.as_ptr()) as usize },
        None => 0,
    }
}

/// The base address of the object containing `addr`, and its path.
pub fn object_of(addr: usize) -> Option<(usize, &'static CStr)> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr only reads the loader's tables and fills `info`.
    let found = unsafe { libc::dladdr(addr as *const c_void, &mut info) } != 0;
    if !found || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader, valid
    // while the object stays loaded (libthrottle's callers hold no handle
    // across an unload: objects with setters are not unloaded in practice).
    Some((info.dli_fbase as usize, unsafe {
        CStr::from_ptr(info.dli_fname)
    }))
}

/// This library's own base address: looked up once (at load, see
/// `hooks::resolve_at_load`), then read from here.
pub fn own_base() -> usize {
    static OWN_BASE: AtomicUsize = AtomicUsize::new(0);
    let cached = OWN_BASE.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let base = object_of(own_base as *const () as usize).map_or(0, |(base, _)| base);
    OWN_BASE.store(base, Ordering::Relaxed);
    base
}

/// A loaded object: its path and the address it is loaded at.
pub struct Object {
    pub path: CString,
    pub base: usize,
}

/// Every loaded shared object with a path (the main program excluded: a
/// definition inside it is found by the ordinary lookup already), and the
/// loader's count of objects ever added (which changes after a `dlopen`).
pub fn objects() -> (Vec<Object>, u64) {
    struct Found {
        objects: Vec<Object>,
        adds: u64,
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our `Found`.
        let (info, found) = unsafe { (&*info, &mut *data.cast::<Found>()) };
        found.adds = info.dlpi_adds;
        if !info.dlpi_name.is_null() {
            // SAFETY: dlpi_name is a NUL-terminated string owned by the loader.
            let name = unsafe { CStr::from_ptr(info.dlpi_name) };
            if !name.to_bytes().is_empty() {
                found.objects.push(Object {
                    path: name.to_owned(),
                    base: info.dlpi_addr as usize,
                });
            }
        }
        0
    }
    let mut found = Found {
        objects: Vec::new(),
        adds: 0,
    };
    // SAFETY: `visit` matches the callback type and only touches `found`,
    // which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut found).cast()) };
    (found.objects, found.adds)
}

/// The loaded object whose segments hold `addr`: its path (`None` for the
/// main program) and the range its segments span. Walks the loader's list
/// with `dl_iterate_phdr`, which takes only the lock that guards that list.
pub struct Containing {
    pub path: Option<CString>,
    pub start: usize,
    pub end: usize,
}

pub fn containing(addr: usize) -> Option<Containing> {
    struct Search {
        addr: usize,
        found: Option<Containing>,
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our `Search`.
        let (info, search) = unsafe { (&*info, &mut *data.cast::<Search>()) };
        let base = info.dlpi_addr as usize;
        let (mut start, mut end, mut hit) = (usize::MAX, 0, false);
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type != libc::PT_LOAD {
                continue;
            }
            let (s, e) = (
                base + ph.p_vaddr as usize,
                base + (ph.p_vaddr + ph.p_memsz) as usize,
            );
            start = start.min(s);
            end = end.max(e);
            hit |= s <= search.addr && search.addr < e;
        }
        if !hit {
            return 0;
        }
        let path = if info.dlpi_name.is_null() {
            None
        } else {
            // SAFETY: dlpi_name is a NUL-terminated string owned by the loader.
            let name = unsafe { CStr::from_ptr(info.dlpi_name) };
            (!name.to_bytes().is_empty()).then(|| name.to_owned())
        };
        search.found = Some(Containing { path, start, end });
        1
    }
    let mut search = Search { addr, found: None };
    // SAFETY: `visit` matches the callback type and only touches `search`.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut search).cast()) };
    search.found
}

/// The loader's count of objects ever added: changes after every `dlopen`
/// that loads something. Stops the walk at the first object.
#[cfg(target_arch = "x86_64")]
pub fn adds() -> u64 {
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our u64.
        unsafe { *data.cast::<u64>() = (*info).dlpi_adds };
        1
    }
    let mut adds = 0u64;
    // SAFETY: `first` matches the callback type and only writes `adds`.
    unsafe { libc::dl_iterate_phdr(Some(first), (&raw mut adds).cast()) };
    adds
}

/// The address of `name` defined in `object` itself (not in a dependency),
/// without loading anything.
pub fn symbol_in(object: &Object, name: &CStr) -> Option<usize> {
    // SAFETY: RTLD_NOLOAD returns a handle only for an object already loaded,
    // taking a reference that is dropped below.
    let handle = unsafe { libc::dlopen(object.path.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if handle.is_null() {
        return None;
    }
    let addr = lookup(handle, name);
    // SAFETY: the handle came from the dlopen above and is closed once.
    unsafe { libc::dlclose(handle) };
    let (base, _) = object_of(addr)?;
    (addr != 0 && base == object.base).then_some(addr)
}

/// The address of `name` as the object loaded from `path` would find it in
/// its local scope (itself, then its dependencies), without loading
/// anything; never one of this library's.
pub fn definition_in_scope_of(path: &CStr, name: &CStr) -> Option<usize> {
    // SAFETY: RTLD_NOLOAD returns a handle only for an object already loaded,
    // taking a reference that is dropped below.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if handle.is_null() {
        return None;
    }
    let addr = lookup(handle, name);
    // SAFETY: the handle came from the dlopen above and is closed once.
    unsafe { libc::dlclose(handle) };
    let own = own_base();
    (addr != 0 && object_of(addr).is_some_and(|(base, _)| base != own)).then_some(addr)
}

/// Pins the object holding `addr` (see [`pin`]); true also for the main
/// program, which is never unloaded.
pub fn pin_containing(addr: usize) -> bool {
    match containing(addr) {
        Some(Containing {
            path: Some(path), ..
        }) => pin(&Object { path, base: 0 }),
        Some(_) => true,
        None => false,
    }
}

/// Makes `object` impossible to unload (`RTLD_NODELETE`), so that addresses
/// inside it stay valid for the life of the process. False if it is no
/// longer loaded.
pub fn pin(object: &Object) -> bool {
    // SAFETY: RTLD_NOLOAD never loads anything; with RTLD_NODELETE it marks
    // the loaded object as never to be unloaded. The reference the call
    // takes is dropped below (the mark stays).
    let handle = unsafe {
        libc::dlopen(
            object.path.as_ptr(),
            libc::RTLD_NOLOAD | libc::RTLD_NODELETE | libc::RTLD_LAZY,
        )
    };
    if handle.is_null() {
        return false;
    }
    // SAFETY: the handle came from the dlopen above and is closed once.
    unsafe { libc::dlclose(handle) };
    true
}

/// A definition of `name` outside this library: the next one in the global
/// scope, else one inside any loaded object (an `RTLD_LOCAL` library such as
/// numpy's bundled OpenBLAS, which the global scope does not reach).
pub fn definition_elsewhere(name: &CStr) -> Option<usize> {
    let own = own_base();
    let next = lookup(libc::RTLD_NEXT, name);
    if next != 0 && object_of(next).is_some_and(|(base, _)| base != own) {
        return Some(next);
    }
    let (objects, _) = objects();
    objects
        .iter()
        .filter(|o| o.base != own)
        .find_map(|o| symbol_in(o, name))
}
