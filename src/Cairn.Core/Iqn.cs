using System.Text.RegularExpressions;

namespace Cairn.Core;

/// <summary>
/// iSCSI names (RFC 7143 §4.2.7): <c>iqn.YYYY-MM.reversed.domain[:anything]</c>, <c>eui.</c>+16 hex digits,
/// <c>naa.</c>+16 or 32 hex digits. Names are case-insensitive; Cairn keeps them lower-cased.
/// </summary>
public static partial class Iqn
{
    /// <summary>RFC 7143 §4.2.7.1: at most 223 bytes.</summary>
    public const int MaxLength = 223;

    [GeneratedRegex(@"^iqn\.\d{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[a-z0-9.:_-]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex IqnForm();

    [GeneratedRegex("^eui\\.[0-9a-f]{16}$", RegexOptions.CultureInvariant)]
    private static partial Regex EuiForm();

    [GeneratedRegex("^naa\\.([0-9a-f]{16}|[0-9a-f]{32})$", RegexOptions.CultureInvariant)]
    private static partial Regex NaaForm();

    /// <summary>Null when valid, otherwise the reason.</summary>
    public static string? Check(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "iSCSI name is empty";
        if (name.Length > MaxLength) return $"iSCSI name is longer than {MaxLength} characters";
        var n = name.ToLowerInvariant();
        if (IqnForm().IsMatch(n) || EuiForm().IsMatch(n) || NaaForm().IsMatch(n)) return null;
        var shown = new string(name.Take(80).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return $"'{shown}' is not a valid iSCSI name (expected iqn.YYYY-MM.domain[:id], eui.<16 hex> or naa.<16|32 hex>)";
    }

    /// <summary>Validates and lower-cases, or throws InvalidArgument naming <paramref name="what"/>.</summary>
    public static string Normalize(string? name, string what = "iSCSI name")
    {
        var why = Check(name);
        if (why is not null) throw CairnException.Invalid($"{what}: {why}");
        return name!.ToLowerInvariant();
    }
}
