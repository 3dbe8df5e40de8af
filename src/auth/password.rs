//! Argon2id password hashing, off the async runtime (it is deliberately slow).

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Cost parameters. The default follows OWASP's Argon2id recommendation (19 MiB, 2 passes);
/// tests use `cheap()` so hundreds of logins stay fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        HashCost {
            memory_kib: 19 * 1024,
            iterations: 2,
        }
    }
}

impl HashCost {
    pub fn cheap() -> Self {
        HashCost {
            memory_kib: 1024,
            iterations: 1,
        }
    }

    fn hasher(self) -> Result<Argon2<'static>, String> {
        let params = Params::new(self.memory_kib, self.iterations, 1, None).map_err(|e| e.to_string())?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hashes to a PHC string (`$argon2id$v=19$...`) with a random salt.
pub async fn hash_password(password: String, cost: HashCost) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let hash = cost
            .hasher()?
            .hash_password(password.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(hash.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Checks a password against a stored PHC string; the parameters come from the string.
pub async fn verify_password(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
    .unwrap_or(false)
}

/// `n` random bytes from the operating system, hex-encoded.
pub fn random_hex(n: usize) -> Result<String, String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// A random password for first start or recovery: 24 characters from an unambiguous alphabet.
pub fn random_password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    // Rejection sampling keeps every character equally likely.
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut out = String::with_capacity(24);
    while out.len() < 24 {
        let mut buf = [0u8; 32];
        getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
        for b in buf.into_iter().filter(|b| *b < limit) {
            if out.len() < 24 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}
