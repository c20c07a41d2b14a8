using Cairn.Api.BlockStorage.Model;

namespace Cairn.Api.BlockStorage.Http;

/// <summary>
/// Cinder's response bodies, field for field (cinder/api/v2/views/volumes.py and v3's additions by microversion). Tempest's
/// schemas refuse missing and extra fields alike, so a field appears exactly from the microversion Cinder adds it in.
/// </summary>
public sealed class Views(CinderCatalog catalog, BlockStorageOptions options, IStateStore store)
{
    public static JsonArray Links(CinderRequest c, string collection, Guid id) =>
    [
        new JsonObject { ["href"] = $"{c.Endpoint}/{collection}/{id:D}", ["rel"] = "self" },
        new JsonObject { ["href"] = $"{c.Bookmark}/{collection}/{id:D}", ["rel"] = "bookmark" },
    ];

    public static JsonObject VolumeSummary(CinderRequest c, VolumeRecord v) => new()
    {
        ["id"] = v.Id.ToString("D"),
        ["links"] = Links(c, "volumes", v.Id),
        ["name"] = v.Str("name"),
    };

    // extended: with the extension attributes (os-vol-*), as show and detail answer; create and
    // update answer without them (Tempest's create schema refuses them).
    public JsonObject Volume(CinderRequest c, VolumeRecord v, bool extended = true)
    {
        var a = v.Attributes;
        var type = catalog.Get(v.Str("volume_type_id") ?? "");
        var o = new JsonObject
        {
            ["id"] = v.Id.ToString("D"),
            ["name"] = v.Str("name"),
            ["description"] = v.Str("description"),
            ["size"] = v.Gigabytes(),
            ["status"] = v.Status,
            ["availability_zone"] = v.Str("availability_zone") ?? options.AvailabilityZone,
            ["created_at"] = Cinder.Time(v.Created),
            ["updated_at"] = Cinder.Time(v.Updated),
            ["attachments"] = Attachments(v),
            ["volume_type"] = type?.Name,
            ["snapshot_id"] = v.Str("snapshot_id"),
            ["source_volid"] = v.Str("source_volid"),
            ["metadata"] = WithVisibleAdminMetadata(a),
            ["links"] = Links(c, "volumes", v.Id),
            ["user_id"] = v.Str("user_id"),
            ["bootable"] = v.Flag("bootable") ? "true" : "false",
            ["encrypted"] = v.Flag("encrypted"),
            ["replication_status"] = "disabled",
            ["consistencygroup_id"] = null,
            ["multiattach"] = v.Flag("multiattach"),
        };
        if (extended) o["os-vol-tenant-attr:tenant_id"] = v.Project;
        if (extended && c.IsAdmin)
        {
            o["os-vol-host-attr:host"] = options.Host + "#" + options.Pool;
            o["os-vol-mig-status-attr:migstat"] = null;
            o["os-vol-mig-status-attr:name_id"] = null;
        }
        if (c.IsAdmin) o["migration_status"] = null; // Cinder's detail view, for admins (no migrations here)
        if (extended && c.Wrs)
        {
            o["wrs-volume:backup_status"] = v.Str(Backups.StatusAttr);
            o["wrs-volume:backup_progress"] = BackupProgressView(v.Id);
        }
        if (c.AtLeast(13)) o["group_id"] = null;
        if (c.AtLeast(21) && c.IsAdmin) o["provider_id"] = null;
        if (c.AtLeast(48))
        {
            o["service_uuid"] = ServiceUuid;
            o["shared_targets"] = false;
        }
        return o;
    }

    // Cinder's add_visible_admin_metadata: the admin metadata keys readonly and attached_mode show among the metadata.
    private static JsonObject WithVisibleAdminMetadata(JsonObject? a)
    {
        var meta = (JsonObject)VolumeAttrs.Metadata(a).DeepClone();
        if (a?["admin_metadata"] is JsonObject admin)
            foreach (var key in (string[])["readonly", "attached_mode"])
                if (admin[key] is JsonValue value) meta[key] = value.DeepClone();
        return meta;
    }

    /// <summary>
    /// Cairn's progress of a running export or import (with <c>wrs-header</c> only): bytes done and total, and the whole
    /// percent; null when none runs in this process.
    /// </summary>
    public static JsonObject? BackupProgressView(Guid id) => BackupProgress.Of(id) is { } p
        ? new JsonObject { ["bytes_done"] = p.Done, ["bytes_total"] = p.Total, ["percent"] = BackupProgress.Percent(p) }
        : null;

    /// <summary>The one volume service's id (stable: derived from nothing that changes).</summary>
    public static readonly string ServiceUuid = "c0a1b2c3-0000-4000-8000-000000c41e00";

    private JsonArray Attachments(VolumeRecord v)
    {
        var list = new JsonArray();
        if (v.Status is not ("in-use" or "detaching" or "attaching")) return list;
        foreach (var d in store.ListDocuments(Cinder.Module, Cinder.KindAttachment, v.Project))
        {
            var b = d.Body;
            if (VolumeAttrs.Str(b, "volume_id") != v.Id.ToString("D") || VolumeAttrs.Str(b, "attach_status") != "attached") continue;
            list.Add(new JsonObject
            {
                ["server_id"] = VolumeAttrs.Str(b, "instance_uuid"),
                ["attachment_id"] = d.Key,
                ["attached_at"] = VolumeAttrs.Str(b, "attach_time"),
                ["host_name"] = VolumeAttrs.Str(b, "attached_host"),
                ["volume_id"] = v.Id.ToString("D"),
                ["device"] = VolumeAttrs.Str(b, "mountpoint"),
                ["id"] = v.Id.ToString("D"),
            });
        }
        return list;
    }

    public static JsonObject Snapshot(CinderRequest c, SnapshotRecord s, bool detail)
    {
        var o = new JsonObject
        {
            ["id"] = s.Id.ToString("D"),
            ["created_at"] = Cinder.Time(s.Created),
            ["updated_at"] = Cinder.Time(s.Updated),
            ["name"] = VolumeAttrs.Str(s.Attributes, "name"),
            ["description"] = VolumeAttrs.Str(s.Attributes, "description"),
            ["volume_id"] = s.VolumeId.ToString("D"),
            ["status"] = s.Status,
            ["size"] = s.Gigabytes(),
            ["metadata"] = VolumeAttrs.Metadata(s.Attributes).DeepClone(),
        };
        if (detail)
        {
            o["os-extended-snapshot-attributes:progress"] = s.Status switch
            {
                "available" => "100%",
                // An export's bytes done of total (Cairn: the original showed 0% until it was available again).
                "exporting" => $"{(BackupProgress.Of(s.Id) is { } p ? BackupProgress.Percent(p) : 0)}%",
                _ => "0%",
            };
            o["os-extended-snapshot-attributes:project_id"] = s.ProjectOf();
            if (c.Wrs)
            {
                o["wrs-snapshot:backup_status"] = VolumeAttrs.Str(s.Attributes, Backups.StatusAttr);
                o["wrs-snapshot:backup_progress"] = BackupProgressView(s.Id);
            }
        }
        if (c.AtLeast(14)) o["group_snapshot_id"] = null;
        if (c.AtLeast(41)) o["user_id"] = VolumeAttrs.Str(s.Attributes, "user_id");
        return o;
    }

    // shape: "show" (lists and show), "create" (no qos_specs_id) or "update" (neither qos_specs_id nor the access attribute), as Cinder answers each.
    public static JsonObject Type(CinderRequest c, VolumeType t, string shape = "show")
    {
        var specs = new JsonObject();
        foreach (var (k, v) in t.ExtraSpecs) specs[k] = v;
        var o = new JsonObject
        {
            ["id"] = t.Id,
            ["name"] = t.Name,
            ["description"] = t.Description,
            ["is_public"] = t.IsPublic,
            ["os-volume-type-access:is_public"] = t.IsPublic,
            ["extra_specs"] = specs,
        };
        if (!c.IsAdmin) o.Remove("extra_specs");
        if (c.IsAdmin && shape == "show") o["qos_specs_id"] = null;
        if (shape == "update") o.Remove("os-volume-type-access:is_public");
        return o;
    }

    /// <summary>An answer with a JSON body and a status.</summary>
    public static IResult Json(JsonNode body, int status = 200) => Results.Text(body.ToJsonString(), "application/json", System.Text.Encoding.UTF8, status);
}
