using System.Globalization;

namespace Cairn.Core;

/// <summary>Parses and prints sizes in binary units (<c>10G</c> = 10 GiB) or plain bytes.</summary>
public static class Sizes
{
    /// <summary>Largest volume size accepted: 1 PiB.</summary>
    public const long MaxVolumeSize = 1L << 50;

    /// <summary>Parses <c>512</c>, <c>4K</c>, <c>10G</c>, <c>1.5T</c>, <c>10GiB</c>, <c>10GB</c> (binary either way).</summary>
    public static bool TryParse(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim();
        int end = s.Length;
        if (s.EndsWith("iB", StringComparison.OrdinalIgnoreCase)) end -= 2;
        else if (s.EndsWith('B') || s.EndsWith('b')) end -= 1;
        long mult = 1;
        if (end > 0)
        {
            switch (char.ToUpperInvariant(s[end - 1]))
            {
                case 'K': mult = 1L << 10; end--; break;
                case 'M': mult = 1L << 20; end--; break;
                case 'G': mult = 1L << 30; end--; break;
                case 'T': mult = 1L << 40; end--; break;
                case 'P': mult = 1L << 50; end--; break;
            }
        }
        var num = s[..end];
        if (num.Length == 0) return false;
        if (mult == 1)
            return long.TryParse(num, NumberStyles.None, CultureInfo.InvariantCulture, out bytes) && bytes >= 0;
        if (!decimal.TryParse(num, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d) || d < 0) return false;
        var v = d * mult;
        if (v > long.MaxValue || v != decimal.Truncate(v)) return false;
        bytes = (long)v;
        return true;
    }

    /// <summary>Parses or throws InvalidArgument with a clear message.</summary>
    public static long Parse(string? text)
    {
        if (!TryParse(text, out var b)) throw CairnException.Invalid($"invalid size '{text}' (use bytes or a binary unit such as 512M, 10G, 1T)");
        return b;
    }

    /// <summary>Checks a volume size: positive, a multiple of 512, at most <see cref="MaxVolumeSize"/>.</summary>
    public static long ValidateVolumeSize(long bytes)
    {
        if (bytes <= 0) throw CairnException.Invalid("size must be greater than zero");
        if (bytes % 512 != 0) throw CairnException.Invalid($"size {bytes} is not a multiple of 512 bytes");
        if (bytes > MaxVolumeSize) throw CairnException.Invalid($"size {bytes} is larger than the maximum ({Format(MaxVolumeSize)})");
        return bytes;
    }

    /// <summary>Human form: <c>1.5G</c>, <c>512M</c>, <c>0</c>.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["", "K", "M", "G", "T", "P", "E"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? bytes.ToString(CultureInfo.InvariantCulture)
            : v.ToString(v < 10 ? "0.##" : v < 100 ? "0.#" : "0", CultureInfo.InvariantCulture) + units[u];
    }
}
