using System.Diagnostics.CodeAnalysis;

namespace Cairn.Core;

/// <summary>
/// Dataset names in the ZFS style: <c>pool/a/b</c> for volumes and folders, <c>pool/a/b@snap</c> for snapshots.
/// The first component plays the role of a pool: it always exists implicitly. Names never reach a shell.
/// </summary>
public static class Names
{
    /// <summary>Longest accepted full name, as ZFS (ZFS_MAX_DATASET_NAME_LEN - 1).</summary>
    public const int MaxLength = 255;

    /// <summary>Longest accepted single component.</summary>
    public const int MaxComponentLength = 128;

    /// <summary>Checks a volume/folder name; null when valid, otherwise the reason.</summary>
    public static string? CheckDataset(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "name is empty";
        if (name.Length > MaxLength) return $"name is longer than {MaxLength} characters";
        if (name.Contains('@')) return $"'{Printable(name)}' is a snapshot name, a volume name was expected";
        foreach (var part in name.Split('/'))
        {
            var why = CheckComponent(part);
            if (why is not null) return $"invalid name '{Printable(name)}': {why}";
        }
        return null;
    }

    /// <summary>Checks a full snapshot name <c>dataset@snap</c>; null when valid.</summary>
    public static string? CheckSnapshot(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "snapshot name is empty";
        var at = name.IndexOf('@');
        if (at < 0) return $"'{Printable(name)}' is not a snapshot name (expected NAME@SNAP)";
        if (name.IndexOf('@', at + 1) >= 0) return $"invalid snapshot name '{Printable(name)}': more than one '@'";
        var ds = CheckDataset(name[..at]);
        if (ds is not null) return ds;
        var why = CheckComponent(name[(at + 1)..]);
        return why is null ? null : $"invalid snapshot name '{Printable(name)}': {why}";
    }

    /// <summary>Throws <see cref="CairnException"/> (InvalidArgument) unless the dataset name is valid.</summary>
    public static string ValidateDataset(string? name)
    {
        var why = CheckDataset(name);
        if (why is not null) Throw(why);
        return name!;
    }

    /// <summary>Splits and validates <c>dataset@snap</c>.</summary>
    public static (string Dataset, string Snapshot) ValidateSnapshot(string? name)
    {
        var why = CheckSnapshot(name);
        if (why is not null) Throw(why);
        var at = name!.IndexOf('@');
        return (name[..at], name[(at + 1)..]);
    }

    /// <summary>Parent dataset name, or null for a top-level (pool) name.</summary>
    public static string? Parent(string dataset)
    {
        var i = dataset.LastIndexOf('/');
        return i < 0 ? null : dataset[..i];
    }

    private static string? CheckComponent(string part)
    {
        if (part.Length == 0) return "empty component";
        if (part.Length > MaxComponentLength) return $"component longer than {MaxComponentLength} characters";
        if (part is "." or "..") return $"component '{part}' is not allowed";
        foreach (var c in part)
        {
            // ZFS allows alphanumerics and - _ . : ; we add nothing else (no spaces, no control characters).
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
                return char.IsControl(c) ? "control character" : c == ' ' ? "space" : $"character '{c}' is not allowed";
        }
        return null;
    }

    private static string Printable(string s)
    {
        var sb = new System.Text.StringBuilder(Math.Min(s.Length, 80));
        foreach (var c in s.Length > 80 ? s[..80] : s) sb.Append(char.IsControl(c) ? '?' : c);
        if (s.Length > 80) sb.Append('…');
        return sb.ToString();
    }

    [DoesNotReturn]
    private static void Throw(string why) => throw CairnException.Invalid(why);
}
