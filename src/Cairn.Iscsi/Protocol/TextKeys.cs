using System.Buffers;
using System.Text;

namespace Cairn.Iscsi.Protocol;

/// <summary>
/// iSCSI text format (RFC 7143 §6.1): <c>key=value</c> pairs, each terminated by a NUL byte, UTF-8.
/// </summary>
public static class TextKeys
{
    /// <summary>Longest key name (RFC 7143 §6.1).</summary>
    public const int MaxKeyLength = 63;

    /// <summary>Standard answers (RFC 7143 §6.2).</summary>
    public const string NotUnderstood = "NotUnderstood";
    public const string Irrelevant = "Irrelevant";
    public const string Reject = "Reject";

    /// <summary>
    /// Parses a text data segment. Returns false (with nothing guaranteed in <paramref name="into"/>) when a pair lacks
    /// '=' or a key is empty, too long or has characters outside the RFC's key alphabet.
    /// </summary>
    public static bool TryParse(in ReadOnlySequence<byte> data, List<KeyValuePair<string, string>> into)
    {
        if (data.IsEmpty) return true;
        byte[]? rented = null;
        ReadOnlySpan<byte> span;
        if (data.IsSingleSegment) span = data.FirstSpan;
        else
        {
            rented = ArrayPool<byte>.Shared.Rent((int)data.Length);
            data.CopyTo(rented);
            span = rented.AsSpan(0, (int)data.Length);
        }
        try { return TryParse(span, into); }
        finally { if (rented is not null) ArrayPool<byte>.Shared.Return(rented); }
    }

    /// <inheritdoc cref="TryParse(in ReadOnlySequence{byte}, List{KeyValuePair{string, string}})"/>
    public static bool TryParse(ReadOnlySpan<byte> span, List<KeyValuePair<string, string>> into)
    {
        while (!span.IsEmpty)
        {
            int end = span.IndexOf((byte)0);
            var pair = end < 0 ? span : span[..end];
            span = end < 0 ? default : span[(end + 1)..];
            if (pair.IsEmpty) continue; // tolerate padding NULs
            int eq = pair.IndexOf((byte)'=');
            if (eq <= 0 || eq > MaxKeyLength) return false;
            var key = pair[..eq];
            foreach (var c in key)
                if (!(char.IsAsciiLetterOrDigit((char)c) || c is (byte)'.' or (byte)'-' or (byte)'+' or (byte)'@' or (byte)'_'))
                    return false;
            into.Add(new(Encoding.ASCII.GetString(key), Encoding.UTF8.GetString(pair[(eq + 1)..])));
        }
        return true;
    }

    /// <summary>Appends <c>key=value\0</c>.</summary>
    public static void Append(IBufferWriter<byte> w, string key, string value)
    {
        int n = Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value) + 2;
        var span = w.GetSpan(n);
        int k = Encoding.UTF8.GetBytes(key, span);
        span[k++] = (byte)'=';
        k += Encoding.UTF8.GetBytes(value, span[k..]);
        span[k++] = 0;
        w.Advance(k);
    }

    /// <summary>Serializes pairs into a fresh array.</summary>
    public static byte[] Serialize(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        var w = new ArrayBufferWriter<byte>();
        foreach (var p in pairs) Append(w, p.Key, p.Value);
        return w.WrittenSpan.ToArray();
    }
}
