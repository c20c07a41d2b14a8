using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Cairn.Archive;

/// <summary>
/// The ustar header fields Cairn writes and reads (POSIX.1-2001 pax, ustar §10.1.1), plus GNU's base-256 numbers and
/// the old GNU sparse header ('S'). No I/O: headers are 512-byte spans.
/// </summary>
internal static class Tar
{
    public const int Block = 512;
    public const long MaxOctal11 = (1L << 33) - 1; // 11 octal digits: 8 GiB - 1

    // ustar field offsets
    private const int NameOff = 0, NameLen = 100, ModeOff = 100, UidOff = 108, GidOff = 116, SizeOff = 124,
        MtimeOff = 136, ChksumOff = 148, TypeOff = 156, MagicOff = 257, PrefixOff = 345, PrefixLen = 155;

    /// <summary>Fills <paramref name="h"/> with a ustar header. Sizes of 8 GiB and more are written base-256 (GNU).</summary>
    public static void WriteHeader(Span<byte> h, string name, long size, char type, long mtime)
    {
        h[..Block].Clear();
        var n = Encoding.ASCII.GetBytes(name);
        if (n.Length > NameLen) throw new ArgumentException($"tar member name too long: {name}", nameof(name));
        n.CopyTo(h[NameOff..]);
        WriteOctal(h.Slice(ModeOff, 8), 420 /* 0644 */);
        WriteOctal(h.Slice(UidOff, 8), 0);
        WriteOctal(h.Slice(GidOff, 8), 0);
        WriteNumber(h.Slice(SizeOff, 12), size);
        WriteOctal(h.Slice(MtimeOff, 12), mtime);
        h[TypeOff] = (byte)type;
        "ustar\000"u8.CopyTo(h[MagicOff..]);
        "root"u8.CopyTo(h[265..]); // uname
        "root"u8.CopyTo(h[297..]); // gname
        h.Slice(ChksumOff, 8).Fill((byte)' ');
        var sum = 0;
        foreach (var b in h[..Block]) sum += b;
        WriteOctal(h.Slice(ChksumOff, 7), sum); // six digits, NUL, space
        h[ChksumOff + 7] = (byte)' ';
    }

    private static void WriteOctal(Span<byte> field, long value)
    {
        var s = Convert.ToString(value, 8).PadLeft(field.Length - 1, '0');
        Encoding.ASCII.GetBytes(s, field);
        field[^1] = 0;
    }

    private static void WriteNumber(Span<byte> field, long value)
    {
        if (value <= MaxOctal11) { WriteOctal(field, value); return; }
        // GNU base-256: high bit of the first byte set, big-endian two's complement in the rest.
        field.Clear();
        BinaryPrimitives.WriteInt64BigEndian(field[^8..], value);
        field[0] |= 0x80;
    }

    /// <summary>One pax extended-header record: <c>"%d %s=%s\n"</c>, the length counting itself.</summary>
    public static void AppendPaxRecord(StringBuilder sb, string key, string value)
    {
        var body = $" {key}={value}\n";
        var len = Encoding.UTF8.GetByteCount(body);
        var digits = len.ToString(CultureInfo.InvariantCulture).Length;
        var total = len + digits;
        if (total.ToString(CultureInfo.InvariantCulture).Length != digits) total++;
        sb.Append(total.ToString(CultureInfo.InvariantCulture)).Append(body);
    }

    public static long Padding(long size) => (Block - size % Block) % Block;

    // ---- reading ----

    public static bool IsZeroBlock(ReadOnlySpan<byte> h) => !h[..Block].ContainsAnyExcept((byte)0);

    /// <summary>Checks the header checksum (unsigned sum, or the signed sum some old tars wrote).</summary>
    public static bool ChecksumOk(ReadOnlySpan<byte> h)
    {
        if (!TryParseNumber(h.Slice(ChksumOff, 8), out var recorded)) return false;
        long unsigned = 0, signed = 0;
        for (var i = 0; i < Block; i++)
        {
            var b = i is >= ChksumOff and < ChksumOff + 8 ? (byte)' ' : h[i];
            unsigned += b;
            signed += (sbyte)b;
        }
        return recorded == unsigned || recorded == signed;
    }

    /// <summary>An octal (space/NUL padded) or base-256 number; false if malformed.</summary>
    public static bool TryParseNumber(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            if ((field[0] & 0x40) != 0) return false; // negative
            value = field[0] & 0x3f;
            foreach (var b in field[1..])
            {
                if (value > (long.MaxValue >> 8)) return false;
                value = (value << 8) | b;
            }
            return value >= 0;
        }
        var s = field;
        var start = 0;
        while (start < s.Length && s[start] == ' ') start++;
        var any = false;
        for (var i = start; i < s.Length; i++)
        {
            var c = s[i];
            if (c is 0 or (byte)' ') break;
            if (c is < (byte)'0' or > (byte)'7') return false;
            if (value > (long.MaxValue >> 3)) return false;
            value = (value << 3) | (long)(c - '0');
            any = true;
        }
        return any || s[start..].IndexOfAnyExcept((byte)0, (byte)' ') < 0;
    }

    /// <summary>The member's name: ustar prefix + "/" + name when the magic says ustar.</summary>
    public static string Name(ReadOnlySpan<byte> h)
    {
        var name = CString(h.Slice(NameOff, NameLen));
        if (h.Slice(MagicOff, 5).SequenceEqual("ustar"u8) && h[MagicOff + 5] == 0)
        {
            var prefix = CString(h.Slice(PrefixOff, PrefixLen));
            if (prefix.Length > 0) return prefix + "/" + name;
        }
        return name;
    }

    public static char Type(ReadOnlySpan<byte> h) => (char)h[TypeOff];

    public static bool TrySize(ReadOnlySpan<byte> h, out long size) => TryParseNumber(h.Slice(SizeOff, 12), out size);

    private static string CString(ReadOnlySpan<byte> f)
    {
        var end = f.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? f : f[..end]);
    }

    // Old GNU sparse ('S'): 4 (offset, numbytes) pairs of 12 bytes at 386, isextended at 482, realsize at 483;
    // each extension block holds 21 pairs and its isextended flag at 504.
    public const int GnuSparseOff = 386, GnuSparseCount = 4, GnuIsExtendedOff = 482, GnuRealSizeOff = 483;
    public const int GnuExtCount = 21, GnuExtIsExtendedOff = 504;

    /// <summary>Reads up to <paramref name="count"/> sparse pairs at <paramref name="off"/>; stops at an empty pair.</summary>
    public static bool TryReadGnuSparse(ReadOnlySpan<byte> h, int off, int count, List<(long Offset, long Size)> map)
    {
        for (var i = 0; i < count; i++)
        {
            var e = h.Slice(off + i * 24, 24);
            if (e[0] == 0) break;
            if (!TryParseNumber(e[..12], out var o) || !TryParseNumber(e[12..], out var n)) return false;
            map.Add((o, n));
        }
        return true;
    }
}
