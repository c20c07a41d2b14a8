using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Cairn.Core.Identity;

/// <summary>
/// Passwords are kept only as a slow salted hash: PBKDF2-HMAC-SHA256 (OpenSSL's, through
/// <see cref="Rfc2898DeriveBytes.Pbkdf2(byte[], byte[], int, HashAlgorithmName, int)"/>), a 16-byte random salt per
/// password and 600,000 iterations (OWASP's figure for PBKDF2-SHA256, 2023). The iteration count is stored with each
/// hash, so raising it later leaves old hashes verifiable. Comparison is constant-time.
/// </summary>
public static class PasswordHash
{
    /// <summary>The iteration count new hashes get.</summary>
    public const int DefaultIterations = 600_000;

    /// <summary>Shortest password accepted.</summary>
    public const int MinLength = 8;

    /// <summary>Longest password accepted (in characters): PBKDF2's cost grows with the input, so the input is bounded.</summary>
    public const int MaxLength = 1024;

    private const string Algorithm = "pbkdf2-sha256";
    private const int SaltBytes = 16, HashBytes = 32;

    // A hash of nothing, verified against when the user does not exist, so that an unknown name costs what a wrong
    // password costs and the answer's timing does not tell the two apart.
    private static readonly Lazy<JsonObject> Decoy = new(() => Create(Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)), DefaultIterations));

    /// <summary>Why <paramref name="password"/> is not acceptable, or null.</summary>
    public static string? Check(string? password)
    {
        if (string.IsNullOrEmpty(password)) return "password: required";
        if (password.Length < MinLength) return $"password: at least {MinLength} characters";
        if (password.Length > MaxLength) return $"password: at most {MaxLength} characters";
        if (password.Any(char.IsControl)) return "password: must not contain control characters (such as a newline)";
        return null;
    }

    /// <summary>A new hash of <paramref name="password"/> with a fresh salt, as stored: algorithm, iterations, salt, hash.</summary>
    public static JsonObject Create(string password, int iterations = DefaultIterations)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Derive(password, salt, iterations);
        return new JsonObject
        {
            ["algorithm"] = Algorithm,
            ["iterations"] = iterations,
            ["salt"] = Convert.ToBase64String(salt),
            ["hash"] = Convert.ToBase64String(hash),
        };
    }

    /// <summary>Whether <paramref name="password"/> matches <paramref name="stored"/>; a null (unknown user) costs the same and is false.</summary>
    public static bool Verify(string password, JsonObject? stored)
    {
        var record = stored ?? Decoy.Value;
        if ((string?)record["algorithm"] != Algorithm) return false;
        var iterations = (int?)record["iterations"] ?? 0;
        if (iterations < 1) return false;
        byte[] salt, expected;
        try
        {
            salt = Convert.FromBase64String((string?)record["salt"] ?? "");
            expected = Convert.FromBase64String((string?)record["hash"] ?? "");
        }
        catch (FormatException)
        {
            return false;
        }
        var actual = Derive(password.Length > MaxLength ? password[..MaxLength] : password, salt, iterations);
        return CryptographicOperations.FixedTimeEquals(actual, expected) && stored is not null;
    }

    private static byte[] Derive(string password, byte[] salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashBytes);
}
