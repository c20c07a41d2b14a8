using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Cairn.Iscsi.Protocol;

/// <summary>A CHAP name and secret held in memory. <see cref="ToString"/> never shows the secret.</summary>
public sealed class ChapSecret(string user, string secret)
{
    private readonly byte[] _secret = Encoding.UTF8.GetBytes(secret);

    public string User { get; } = user;

    internal ReadOnlySpan<byte> Secret => _secret;

    /// <summary>True when both hold the same secret (RFC 7143 §12.1.3 forbids one secret for both directions).</summary>
    public bool SameSecretAs(ChapSecret other) => CryptographicOperations.FixedTimeEquals(_secret, other._secret);

    public override string ToString() => $"CHAP user {User} (secret hidden)";
}

/// <summary>Result of one CHAP step.</summary>
public enum ChapStep
{
    /// <summary>More exchanges are needed.</summary>
    Continue,
    /// <summary>The initiator proved its identity (and, if asked, we proved ours).</summary>
    Authenticated,
    /// <summary>Authentication failed: answer Login status 0x0201.</summary>
    Failed,
}

/// <summary>
/// Target side of iSCSI CHAP (RFC 7143 §12.1.3, RFC 1994): MD5 only (CHAP_A=5), one-way or mutual.
/// Values travel as 0x-hex or 0b-base64 (§6.1); we answer in hex. A challenge from the initiator that equals ours is
/// refused (reflection attack), as is mutual CHAP with the same secret in both directions.
/// </summary>
public sealed class ChapAuthenticator(ChapSecret initiatorSecret, ChapSecret? targetSecret)
{
    private const int ChallengeLength = 16;
    private const int MaxInitiatorChallenge = 1024;
    private byte _id;
    private byte[]? _challenge;

    /// <summary>Why the last step failed (for logs; never contains a secret).</summary>
    public string? FailureReason { get; private set; }

    /// <summary>Processes the CHAP keys of one Login Request and adds our answers.</summary>
    public ChapStep Step(IReadOnlyDictionary<string, string> keys, List<KeyValuePair<string, string>> response)
    {
        if (_challenge is null)
        {
            if (!keys.TryGetValue("CHAP_A", out var algs)) return Fail("CHAP_A missing");
            if (!algs.Split(',').Contains("5"))
            {
                response.Add(new("CHAP_A", TextKeys.Reject));
                return Fail("no MD5 in CHAP_A");
            }
            _id = (byte)RandomNumberGenerator.GetInt32(256);
            _challenge = RandomNumberGenerator.GetBytes(ChallengeLength);
            response.Add(new("CHAP_A", "5"));
            response.Add(new("CHAP_I", _id.ToString(CultureInfo.InvariantCulture)));
            response.Add(new("CHAP_C", ToHex(_challenge)));
            return ChapStep.Continue;
        }

        if (!keys.TryGetValue("CHAP_N", out var name) || !keys.TryGetValue("CHAP_R", out var r)) return Fail("CHAP_N/CHAP_R missing");
        if (!TryDecode(r, 64, out var given) || given.Length != 16) return Fail("malformed CHAP_R");
        if (!string.Equals(name, initiatorSecret.User, StringComparison.Ordinal)) return Fail("unknown CHAP user");
        var expected = Response(_id, initiatorSecret.Secret, _challenge);
        if (!CryptographicOperations.FixedTimeEquals(expected, given)) return Fail("wrong CHAP response");

        bool wantsMutual = keys.TryGetValue("CHAP_I", out var iid) | keys.TryGetValue("CHAP_C", out var ic);
        if (!wantsMutual) return ChapStep.Authenticated;
        if (targetSecret is null) return Fail("mutual CHAP asked but not configured");
        if (iid is null || ic is null || !ParameterNegotiator.TryNumber(iid, 0, 255, out var id)) return Fail("malformed CHAP_I");
        if (!TryDecode(ic, MaxInitiatorChallenge, out var challenge) || challenge.Length == 0) return Fail("malformed CHAP_C");
        if (challenge.AsSpan().SequenceEqual(_challenge)) return Fail("reflected CHAP challenge");
        if (targetSecret.SameSecretAs(initiatorSecret)) return Fail("same secret in both directions");
        response.Add(new("CHAP_N", targetSecret.User));
        response.Add(new("CHAP_R", ToHex(Response((byte)id, targetSecret.Secret, challenge))));
        return ChapStep.Authenticated;
    }

    /// <summary>RFC 1994 §4.1: MD5(identifier ‖ secret ‖ challenge).</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351", Justification = "CHAP is defined over MD5 (RFC 1994, RFC 7143 section 12.1.3); initiators only speak CHAP_A=5.")]
    public static byte[] Response(byte id, ReadOnlySpan<byte> secret, ReadOnlySpan<byte> challenge)
    {
        var buf = new byte[1 + secret.Length + challenge.Length];
        buf[0] = id;
        secret.CopyTo(buf.AsSpan(1));
        challenge.CopyTo(buf.AsSpan(1 + secret.Length));
        var hash = MD5.HashData(buf);
        CryptographicOperations.ZeroMemory(buf);
        return hash;
    }

    /// <summary>Encodes as <c>0x</c> lower-case hex.</summary>
    public static string ToHex(ReadOnlySpan<byte> b) => "0x" + Convert.ToHexStringLower(b);

    /// <summary>Decodes a binary value: <c>0x…</c> hex or <c>0b…</c> base64 (RFC 7143 §6.1).</summary>
    public static bool TryDecode(string s, int maxBytes, out byte[] value)
    {
        value = [];
        if (s.Length < 3 || s.Length > (maxBytes * 2) + 4 || s[0] != '0') return false;
        try
        {
            if (s[1] is 'x' or 'X')
            {
                var hex = s[2..];
                if (hex.Length % 2 == 1) hex = "0" + hex;
                value = Convert.FromHexString(hex);
            }
            else if (s[1] is 'b' or 'B') value = Convert.FromBase64String(s[2..]);
            else return false;
        }
        catch (FormatException) { return false; }
        return value.Length <= maxBytes;
    }

    private ChapStep Fail(string why)
    {
        FailureReason = why;
        return ChapStep.Failed;
    }
}
