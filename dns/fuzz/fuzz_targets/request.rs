//! The whole request path of berth-dns (parse, cache, zone, autopath) on
//! arbitrary bytes: `cargo fuzz run request` from dns/ (see dns/README.md).
#![no_main]

use std::sync::{Arc, OnceLock};

use berth_dns::{Handler, StaticSource, Zone, ZoneConfig, handle_once};
use libfuzzer_sys::fuzz_target;

fn handler() -> &'static Arc<Handler> {
    static HANDLER: OnceLock<Arc<Handler>> = OnceLock::new();
    HANDLER.get_or_init(|| {
        let fixture = include_str!("../../tests/fixtures/cluster.yaml");
        let source = StaticSource::from_yaml(fixture).expect("fixture parses");
        let zone = Zone::build(&source, &ZoneConfig::default()).expect("fixture builds");
        Arc::new(Handler::new(Arc::new(zone)).with_autopath(true))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = handle_once(handler(), data);
});
