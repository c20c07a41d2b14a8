using System.Security.Cryptography;
using System.Text;

namespace Cairn.Core.Services;

/// <summary>
/// Seals secrets (CHAP) at rest with AES-256-GCM under a key kept in its own file (mode 0600), so the state store never
/// holds a secret in the clear. The key file is created on first use.
/// </summary>
public sealed class SecretBox
{
    private readonly byte[] _key;

    public SecretBox(byte[] key)
    {
        if (key.Length != 32) throw new ArgumentException("key must be 32 bytes", nameof(key));
        _key = key;
    }

    /// <summary>Loads the key at <paramref name="path"/>, creating it (0600) when missing.</summary>
    public static SecretBox FromKeyFile(string path)
    {
        if (!File.Exists(path))
        {
            var key = RandomNumberGenerator.GetBytes(32);
            var tmp = path + ".tmp";
            using (var fs = new FileStream(tmp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
                fs.Write(key);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path);
        }
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != 32) throw new CairnException(ErrorKind.Internal, $"secret key file {path} is damaged (expected 32 bytes)");
        return new SecretBox(bytes);
    }

    /// <summary>Base64 of nonce | tag | ciphertext.</summary>
    public string Seal(string secret)
    {
        var plain = Encoding.UTF8.GetBytes(secret);
        var buf = new byte[12 + 16 + plain.Length];
        RandomNumberGenerator.Fill(buf.AsSpan(0, 12));
        using var gcm = new AesGcm(_key, 16);
        gcm.Encrypt(buf.AsSpan(0, 12), plain, buf.AsSpan(28), buf.AsSpan(12, 16));
        return Convert.ToBase64String(buf);
    }

    public string Open(string sealedSecret)
    {
        var buf = Convert.FromBase64String(sealedSecret);
        if (buf.Length < 28) throw new CairnException(ErrorKind.Internal, "sealed secret is damaged");
        var plain = new byte[buf.Length - 28];
        using var gcm = new AesGcm(_key, 16);
        gcm.Decrypt(buf.AsSpan(0, 12), buf.AsSpan(28), buf.AsSpan(12, 16), plain);
        return Encoding.UTF8.GetString(plain);
    }
}
