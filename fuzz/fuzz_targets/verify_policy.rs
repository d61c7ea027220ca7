//! Policy parsing (YAML with lines, every mistake collected) must never panic or hang,
//! whatever the text; every key path resolves to one valid key.
#![no_main]

use libfuzzer_sys::fuzz_target;

const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAiojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=\n-----END PUBLIC KEY-----\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut load = |p: &str| -> Result<String, String> {
        if p.ends_with(".vkey") {
            Ok("custody.fuzz/log+bc5e1c2a+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c".into())
        } else if p.starts_with("bad") {
            Err("no such file".into())
        } else {
            Ok(KEY.into())
        }
    };
    let _ = custody_verify::Policy::parse(text, &mut load);
});
