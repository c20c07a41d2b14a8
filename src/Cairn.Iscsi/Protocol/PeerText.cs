using System.Text;

namespace Cairn.Iscsi.Protocol;

/// <summary>
/// Strings a peer sent (InitiatorName, TargetName, key names and values…) made safe for a log line: bounded in length
/// and reduced to printable ASCII, so an initiator can neither flood the log nor write terminal escapes or fake lines
/// into it.
/// </summary>
public static class PeerText
{
    /// <summary>Longest iSCSI name in bytes (RFC 7143 §4.2.7.1).</summary>
    public const int MaxNameBytes = 223;

    private const string Hex = "0123456789ABCDEF";

    /// <summary>
    /// <paramref name="value"/> as it may appear in a log: printable ASCII kept, everything else (control characters,
    /// DEL, the backslash itself, the UTF-8 bytes of non-ASCII characters) written as <c>\xNN</c>; at most
    /// <paramref name="max"/> characters of that, then <c>…(N bytes)</c> with the original's UTF-8 length when cut.
    /// Allocation-free when the value needs neither.
    /// </summary>
    public static string ForLog(string? value, int max = MaxNameBytes)
    {
        if (string.IsNullOrEmpty(value)) return "";
        if (value.Length <= max && IsPlain(value)) return value;
        var sb = new StringBuilder(Math.Min(value.Length * 4, max) + 24);
        Span<byte> utf8 = stackalloc byte[4];
        bool cut = false;
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (IsPlain(c))
            {
                if (sb.Length + 1 > max) { cut = true; break; }
                sb.Append(c);
                continue;
            }
            int chars = char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]) ? 2 : 1;
            int n = Encoding.UTF8.GetBytes(value.AsSpan(i, chars), utf8); // a lone surrogate becomes EF BF BD
            if (sb.Length + 4 * n > max) { cut = true; break; }
            foreach (var b in utf8[..n]) sb.Append('\\').Append('x').Append(Hex[b >> 4]).Append(Hex[b & 0xF]);
            i += chars - 1;
        }
        if (cut) sb.Append("…(").Append(Encoding.UTF8.GetByteCount(value)).Append(" bytes)");
        return sb.ToString();
    }

    /// <summary>
    /// True when <paramref name="name"/> can be an iSCSI name at all: 1–223 bytes of UTF-8 without control characters
    /// (RFC 7143 §4.2.7.1; RFC 3722's stringprep profile prohibits them).
    /// </summary>
    public static bool IsAcceptableName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.Length > MaxNameBytes || Encoding.UTF8.GetByteCount(name) > MaxNameBytes) return false;
        foreach (var c in name)
            if (char.IsControl(c)) return false;
        return true;
    }

    private static bool IsPlain(char c) => c is >= ' ' and <= '~' and not '\\';

    private static bool IsPlain(string s)
    {
        foreach (var c in s)
            if (!IsPlain(c)) return false;
        return true;
    }
}
