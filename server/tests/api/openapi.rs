//! `server/openapi.yaml` documents every route the router serves.

#[test]
fn every_route_is_documented() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let routes =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes.rs")).unwrap();
    let mut seen = 0;
    for chunk in routes.split(".route(").skip(1) {
        let rest = &chunk[chunk.find('"').unwrap() + 1..];
        let path = &rest[..rest.find('"').unwrap()];
        let full = if path.starts_with("/healthz")
            || path.starts_with("/readyz")
            || path.starts_with("/metrics")
        {
            path.to_owned()
        } else {
            format!("/v1{path}")
        };
        assert!(
            spec.contains(&format!("\n  {full}:\n")),
            "{full} is not in openapi.yaml"
        );
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} routes found in routes.rs");
}
