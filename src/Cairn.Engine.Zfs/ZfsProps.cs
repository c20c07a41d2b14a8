using Cairn.Core;

namespace Cairn.Engine.Zfs;

/// <summary>
/// The ZFS user properties Cairn keeps on what it creates. zfs(8): a user property name contains a colon; it is
/// inherited by descendants (and by snapshots), so every marker carries the full name of the object it was set on:
/// an inherited value names an ancestor and is recognised as such.
/// </summary>
internal static class ZfsProps
{
    /// <summary><c>volume:NAME</c>, <c>folder:NAME</c>, <c>snapshot:NAME@SNAP</c> or <c>view:NAME</c>.</summary>
    public const string Managed = "cairn:managed";

    /// <summary>Volume size in bytes (file mode: the length of the image file); also set on each snapshot.</summary>
    public const string VolSize = "cairn:volsize";

    /// <summary>On a hidden snapshot view: the snapshot it shows.</summary>
    public const string ViewOf = "cairn:view-of";

    /// <summary>
    /// Caller properties are stored as <c>cairn.prop:KEY</c>: the prefix keeps them apart from other tools' user
    /// properties and from Cairn's own markers, and makes every key a valid user property name.
    /// </summary>
    public const string UserPrefix = "cairn.prop:";

    /// <summary>Datasets whose last component starts with this are Cairn's own (snapshot views): never listed.</summary>
    public const string HiddenPrefix = ".cairn-";

    /// <summary>zfs(8): user property values are at most 1024 bytes (ZFS_MAXPROPLEN is larger, but 1024 is portable).</summary>
    public const int MaxValueLength = 1024;

    public static string VolumeMark(string name) => "volume:" + name;
    public static string FolderMark(string name) => "folder:" + name;
    public static string SnapshotMark(string full) => "snapshot:" + full;
    public static string ViewMark(string name) => "view:" + name;

    /// <summary>
    /// Checks caller properties. Keys: 1–200 characters of lower-case letters, digits and <c>- _ . :</c> (zfs(8) user
    /// property names; upper case is refused because ZFS folds nothing and callers would be surprised). Values: printable,
    /// no tab or newline (the <c>-H</c> output is tab- and line-separated), at most 1024 bytes.
    /// </summary>
    public static void Validate(IReadOnlyDictionary<string, string>? properties)
    {
        if (properties is null) return;
        foreach (var (k, v) in properties)
        {
            if (string.IsNullOrEmpty(k) || k.Length > 200)
                throw CairnException.Invalid($"property name '{k}' must have 1 to 200 characters");
            foreach (var c in k)
                if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_' or '.' or ':'))
                    throw CairnException.Invalid($"property name '{k}': character '{c}' is not allowed (a-z 0-9 - _ . :)");
            if (v is null) throw CairnException.Invalid($"property {k} has no value");
            if (System.Text.Encoding.UTF8.GetByteCount(v) > MaxValueLength)
                throw CairnException.Invalid($"property {k}: value longer than {MaxValueLength} bytes");
            foreach (var c in v)
                if (char.IsControl(c)) throw CairnException.Invalid($"property {k}: value contains a control character");
            // "-" is what zfs get prints for an unset property: it could not be told apart when read back.
            if (v.Length == 0 || v == "-") throw CairnException.Invalid($"property {k}: value must not be empty or '-'");
        }
    }

    /// <summary>The <c>-o name=value</c> arguments for <paramref name="properties"/>.</summary>
    public static void AddOptions(List<string> args, IReadOnlyDictionary<string, string>? properties)
    {
        if (properties is null) return;
        foreach (var (k, v) in properties.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            args.Add("-o");
            args.Add(UserPrefix + k + "=" + v);
        }
    }

    /// <summary>A dataset or snapshot id derived from its ZFS <c>guid</c> (64 random bits fixed at creation, zfs(8)): the
    /// first eight bytes spell "cairnzfs", the last eight are the guid, so the id shows the guid in hex.</summary>
    public static Guid IdOf(ulong zfsGuid)
    {
        Span<byte> d = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(d, zfsGuid);
        return new Guid(0x63616972, 0x6e7a, 0x6673, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
    }
}
