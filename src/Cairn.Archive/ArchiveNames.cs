using System.Globalization;

namespace Cairn.Archive;

/// <summary>The StarlingX archive and member names: <c>volume-&lt;uuid&gt;-YYYYmmdd-HHMMSS.tgz</c> (UTC).</summary>
public static class ArchiveNames
{
    private const string Prefix = "volume-";
    private const string StampFormat = "yyyyMMdd-HHmmss";

    /// <summary>The archive file name for <paramref name="volumeId"/> made at <paramref name="utc"/>.</summary>
    public static string FileName(Guid volumeId, DateTimeOffset utc) =>
        $"{Prefix}{volumeId:D}-{utc.UtcDateTime.ToString(StampFormat, CultureInfo.InvariantCulture)}.tgz";

    /// <summary>The image member's name, <c>volume-&lt;uuid&gt;.vol</c>.</summary>
    public static string ImageMember(Guid volumeId) => $"{Prefix}{volumeId:D}.vol";

    /// <summary>The meta member's name, <c>volume-&lt;uuid&gt;.meta</c>.</summary>
    public static string MetaMember(Guid volumeId) => $"{Prefix}{volumeId:D}.meta";

    /// <summary>
    /// Parses an archive file name the way the StarlingX client does (<c>file_name[7:-20]</c> is the uuid), and checks
    /// the rest of the shape: the prefix, the UTC stamp and <c>.tgz</c>.
    /// </summary>
    public static bool TryParse(string fileName, out Guid volumeId, out DateTimeOffset utc)
    {
        volumeId = Guid.Empty;
        utc = default;
        // "volume-" (7) + uuid (36) + "-YYYYmmdd-HHMMSS.tgz" (20)
        if (fileName.Length != 7 + 36 + 20 || !fileName.StartsWith(Prefix, StringComparison.Ordinal)
            || !fileName.EndsWith(".tgz", StringComparison.Ordinal) || fileName[43] != '-') return false;
        if (!Guid.TryParseExact(fileName.AsSpan(7, 36), "D", out volumeId)) return false;
        if (!DateTime.TryParseExact(fileName.AsSpan(44, 15), StampFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)) return false;
        utc = new DateTimeOffset(t, TimeSpan.Zero);
        return true;
    }
}
