// @generated automatically by Diesel CLI.

diesel::table! {
    active_config (id) {
        id -> BigInt,
        sha256 -> Text,
        label -> Text,
        previous_sha256 -> Nullable<Text>,
        backup_dir -> Nullable<Text>,
        activated_at -> Double,
        buildbot -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Double,
        actor -> Nullable<Text>,
        action -> Text,
        detail -> Text,
    }
}

diesel::table! {
    buildbot_db_ops (id) {
        id -> BigInt,
        upgrade_id -> Text,
        kind -> Text,
        state -> Text,
        op -> Text,
        pid -> Nullable<BigInt>,
        started_at -> Double,
        updated_at -> Double,
    }
}

diesel::table! {
    config_versions (sha256) {
        sha256 -> Text,
        label -> Text,
        files -> Text,
        staged_at -> Double,
        staged_by -> Nullable<Text>,
        reason -> Nullable<Text>,
        checkconfig -> Nullable<Text>,
        activated_at -> Nullable<Double>,
        buildbot -> Nullable<Text>,
    }
}

diesel::table! {
    drains (id) {
        id -> BigInt,
        phase -> Text,
        request -> Text,
        state -> Text,
        started_at -> Double,
        updated_at -> Double,
        finished_at -> Nullable<Double>,
    }
}

diesel::table! {
    fence (fleet) {
        fleet -> Text,
        epoch -> BigInt,
        seen_at -> Double,
    }
}

diesel::table! {
    fleet_lease (id) {
        id -> BigInt,
        holder -> Text,
        reason -> Text,
        kind -> Text,
        acquired_at -> Double,
        renewed_at -> Double,
        expires_at -> Double,
    }
}

diesel::table! {
    operations (id) {
        id -> BigInt,
        kind -> Text,
        requested_by -> Nullable<Text>,
        reason -> Nullable<Text>,
        started_at -> Double,
        finished_at -> Nullable<Double>,
        outcome -> Nullable<Text>,
        message -> Text,
        log_lines -> Text,
    }
}

diesel::table! {
    upgrades (id) {
        id -> Text,
        version -> BigInt,
        doc -> Text,
        created_at -> Double,
        updated_at -> Double,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    active_config,
    audit_log,
    buildbot_db_ops,
    config_versions,
    drains,
    fence,
    fleet_lease,
    operations,
    upgrades,
);
