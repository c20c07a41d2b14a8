using System.Globalization;
using Cairn.Core.Services;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>Settings of the Block Storage module, from <c>CairnOptions</c>.</summary>
public sealed class BlockStorageOptions
{
    /// <summary>The pool Cinder volumes live in (<c>BlockStoragePool</c>).</summary>
    public string Pool { get; init; } = "volumes";

    /// <summary>The iSCSI portal (ADDR:PORT) given to initiators in connection info.</summary>
    public string Portal { get; init; } = "127.0.0.1:3260";

    /// <summary>The one availability zone.</summary>
    public string AvailabilityZone { get; init; } = "nova";

    /// <summary>The host name shown as <c>os-vol-host-attr:host</c> and in <c>os-services</c>.</summary>
    public string Host { get; init; } = "cairn@cairn";

    /// <summary>Where StarlingX exports are written and imports read (<c>BackupDir</c>, an absolute path).</summary>
    public string BackupDir { get; init; } = "/opt/backups";
}

/// <summary>Names and document kinds of the module.</summary>
public static class Cinder
{
    public const string Module = Modules.BlockStorage;
    public const string KindType = "volume_type";
    public const string KindDefaultType = "default_type";
    public const string KindQuota = "quota";
    public const string KindQuotaDefaults = "quota_defaults";
    public const string KindAttachment = "attachment";

    /// <summary>Status of a record whose Cinder object is gone while its engine object waits for its clones (deferred deletion).</summary>
    public const string Deleted = "deleted";

    public const long GiB = 1L << 30;

    /// <summary>Cinder's <c>volume_name_template</c>: the engine dataset of a volume.</summary>
    public static string DatasetOf(string pool, Guid id) => $"{pool}/volume-{id:D}";

    /// <summary>Cinder's <c>snapshot_name_template</c>: the engine snapshot name of a snapshot.</summary>
    public static string SnapshotNameOf(Guid id) => $"snapshot-{id:D}";

    public static Owner OwnerOf(string project) => new(Module, project);

    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
}

/// <summary>Typed reads and writes of a Cinder volume's attributes (kept in <see cref="VolumeRecord.Attributes"/>).</summary>
public static class VolumeAttrs
{
    public static string? Str(this VolumeRecord r, string key) => Str(r.Attributes, key);
    public static bool Flag(this VolumeRecord r, string key) => Flag(r.Attributes, key);

    public static string? Str(JsonObject? a, string key) => a?[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
    public static bool Flag(JsonObject? a, string key) => a?[key] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    public static JsonObject Metadata(JsonObject? a) => a?["metadata"] as JsonObject ?? [];

    /// <summary>A copy of the attributes with <paramref name="change"/> applied (records are immutable).</summary>
    public static JsonObject With(JsonObject? a, Action<JsonObject> change)
    {
        var copy = a is null ? [] : (JsonObject)a.DeepClone();
        change(copy);
        return copy;
    }

    public static bool IsVisible(this VolumeRecord r) => r.Module == Cinder.Module && r.Status != Cinder.Deleted;
    public static bool IsVisible(this SnapshotRecord s) => s.Module == Cinder.Module && s.Status != Cinder.Deleted && !Flag(s.Attributes, "internal");

    public static string? ProjectOf(this SnapshotRecord s) => Str(s.Attributes, "project_id");

    public static int Gigabytes(this VolumeRecord r) => (int)(r.Size / Cinder.GiB);
    public static int Gigabytes(this SnapshotRecord s) => (int)(s.Size / Cinder.GiB);
}
