fn main() {
    // `sqlx::migrate!` embeds the migration files: rebuild when one is added or changed.
    println!("cargo:rerun-if-changed=migrations");
}
