using System.Security.Cryptography;
using Cairn.Api.BlockStorage.Http;
using Cairn.Core.Services;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>
/// The attach set: Nova's legacy actions (<c>os-reserve</c> … <c>os-detach</c>) and the attachments API (3.27+), over
/// one model. An attachment is a module document (kind <c>attachment</c>); giving it a connector makes a Cairn iSCSI
/// target for that attachment alone (<see cref="TargetService"/>): the volume as LUN 0, only the connector's initiator
/// allowed, and CHAP credentials made for the attachment. Terminating the connection or deleting the attachment
/// deletes the target, which ends the initiator's sessions.
/// </summary>
public sealed partial class AttachWorkflows(IStateStore store, TargetService targets, VolumeWorkflows volumes, BlockStorageOptions options,
    ILogger<AttachWorkflows> log)
{
    /// <summary>Cinder's <c>target_prefix</c>.</summary>
    public const string IqnPrefix = "iqn.2010-10.org.openstack:";

    private readonly KeyedLock _locks = new();

    // ---------------------------------------------------------------- documents

    public IReadOnlyList<DocumentRecord> Of(VolumeRecord v) =>
        [.. store.ListDocuments(Cinder.Module, Cinder.KindAttachment, v.Project).Where(d => VolumeAttrs.Str(d.Body, "volume_id") == v.Id.ToString("D"))];

    public IReadOnlyList<DocumentRecord> List(string? project) => store.ListDocuments(Cinder.Module, Cinder.KindAttachment, project);

    public DocumentRecord Require(CinderRequest c, Guid id) =>
        store.GetDocument(Cinder.Module, Cinder.KindAttachment, id.ToString("D")) is { } d && (c.IsAdmin || d.Project == c.Project)
            ? d : throw CinderError.NotFound($"Attachment {id} could not be found.");

    private Task PutAsync(DocumentRecord d, JsonObject body, CancellationToken ct) =>
        store.WriteAsync(w => w.Put(d with { Body = body, Updated = DateTimeOffset.UtcNow }), ct);

    private static DocumentRecord NewAttachment(VolumeRecord v, string? instance, string mode, string status) => new(
        Cinder.Module, Cinder.KindAttachment, Guid.NewGuid().ToString("D"), v.Project,
        new JsonObject
        {
            ["volume_id"] = v.Id.ToString("D"), ["instance_uuid"] = instance, ["attach_mode"] = mode, ["attach_status"] = status,
            ["attached_host"] = null, ["mountpoint"] = null, ["attach_time"] = null, ["connector"] = null, ["target_iqn"] = null,
        }, DateTimeOffset.UtcNow);

    // ---------------------------------------------------------------- legacy actions

    /// <summary>Answers an attach action, or null when <paramref name="action"/> is not one.</summary>
    public async Task<IResult?> TryActionAsync(CinderRequest c, VolumeRecord v, string action, JsonObject? arg, CancellationToken ct)
    {
        switch (action)
        {
            case "os-reserve":
                c.RequireWrite();
                CheckAttachable(v, "reserve");
                await volumes.PutAsync(v, r => r with { Status = "attaching" }, ct);
                return Results.StatusCode(202);
            case "os-unreserve":
                c.RequireWrite();
                if (v.Status == "attaching")
                    await volumes.PutAsync(v, r => r with { Status = Attached(r) ? "in-use" : "available" }, ct);
                return Results.StatusCode(202);
            case "os-begin_detaching":
                c.RequireWrite();
                if (v.Status != "in-use") throw CinderError.BadRequest($"Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach, but is {v.Status}.");
                await volumes.PutAsync(v, r => r with { Status = "detaching" }, ct);
                return Results.StatusCode(202);
            case "os-roll_detaching":
                c.RequireWrite();
                if (v.Status == "detaching") await volumes.PutAsync(v, r => r with { Status = "in-use" }, ct);
                return Results.StatusCode(202);
            case "os-initialize_connection":
            {
                c.RequireWrite();
                var connector = Connector(arg);
                var initiator = Initiator(connector);
                using (await _locks.AcquireAsync(v.Id.ToString(), ct))
                {
                    // One attachment per (volume, initiator) for the legacy calls: a repeat answers the same credentials.
                    var existing = Of(v).FirstOrDefault(d => Initiator(d.Body["connector"] as JsonObject) == initiator && VolumeAttrs.Str(d.Body, "attach_status") != "detached");
                    if (existing is null && Attached(v) && !v.Flag("multiattach") && Of(v).Any(d => VolumeAttrs.Str(d.Body, "target_iqn") is not null))
                        throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} is attached already and its type does not allow multiattach.");
                    var doc = existing ?? NewAttachment(v, null, "rw", "attaching");
                    var info = await ConnectAsync(v, doc, connector, ct);
                    return Views.Json(new JsonObject { ["connection_info"] = info });
                }
            }
            case "os-terminate_connection":
            {
                c.RequireWrite();
                var initiator = Initiator(Connector(arg));
                using (await _locks.AcquireAsync(v.Id.ToString(), ct))
                {
                    foreach (var d in Of(v).Where(d => Initiator(d.Body["connector"] as JsonObject) == initiator))
                    {
                        await DisconnectAsync(d, ct);
                        if (VolumeAttrs.Str(d.Body, "attach_status") != "attached")
                            await store.WriteAsync(w => w.DeleteDocument(Cinder.Module, Cinder.KindAttachment, d.Key), ct);
                    }
                    // Without this a volume that was connected but never attached stayed `attaching` for ever.
                    if (store.GetVolume(v.Id) is { } now && now.Status is "attaching" or "reserved") await SettleAsync(now, ct);
                }
                return Results.StatusCode(202);
            }
            case "os-attach":
            {
                c.RequireWrite();
                var o = arg ?? [];
                var instance = CinderBody.Text(o, "instance_uuid");
                var host = CinderBody.Text(o, "host_name");
                var mountpoint = CinderBody.Text(o, "mountpoint");
                var mode = CinderBody.Text(o, "mode") ?? "rw";
                if (mode is not ("rw" or "ro")) throw CinderError.BadRequest($"Invalid input received: Invalid attaching mode '{mode}' for volume {v.Id}.");
                if (instance is null && host is null) throw CinderError.BadRequest("Invalid request to attach volume to an invalid target");
                if (mode != "ro" && v.Flag("readonly")) throw CinderError.BadRequest($"Invalid input received: Invalid attaching mode '{mode}' for volume {v.Id}.");
                if (v.Status is not ("attaching" or "available" or "in-use" or "reserved"))
                    throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} status must be available or attaching to attach, but is {v.Status}.");
                using (await _locks.AcquireAsync(v.Id.ToString(), ct))
                {
                    var doc = Of(v).FirstOrDefault(d => VolumeAttrs.Str(d.Body, "attach_status") is "attaching" or "reserved") ?? NewAttachment(v, instance, mode, "attaching");
                    var body = (JsonObject)doc.Body.DeepClone();
                    body["instance_uuid"] = instance;
                    body["attached_host"] = host;
                    body["mountpoint"] = mountpoint;
                    body["attach_mode"] = mode;
                    body["attach_status"] = "attached";
                    body["attach_time"] = Cinder.Time(DateTimeOffset.UtcNow);
                    await PutAsync(doc, body, ct);
                    await volumes.PutAsync(v, r => r with { Status = "in-use", Attributes = VolumeAttrs.With(r.Attributes, a => a["attach_status"] = "attached") }, ct);
                }
                return Results.StatusCode(202);
            }
            case "os-detach":
            {
                c.RequireWrite();
                var attachmentId = arg is null ? null : CinderBody.Text(arg, "attachment_id");
                using (await _locks.AcquireAsync(v.Id.ToString(), ct))
                {
                    var attached = Of(v);
                    var doomed = attachmentId is null
                        ? (attached.Count <= 1 ? attached : throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} has several attachments; give attachment_id."))
                        : [attached.FirstOrDefault(d => d.Key == attachmentId) ?? throw CinderError.NotFound($"Attachment {attachmentId} could not be found.")];
                    foreach (var d in doomed)
                    {
                        await DisconnectAsync(d, ct);
                        await store.WriteAsync(w => w.DeleteDocument(Cinder.Module, Cinder.KindAttachment, d.Key), ct);
                    }
                    await SettleAsync(v, ct);
                }
                return Results.StatusCode(202);
            }
            default:
                return null;
        }
    }

    private static void CheckAttachable(VolumeRecord v, string what)
    {
        if (v.Status == "available" || (v.Status == "in-use" && v.Flag("multiattach"))) return;
        throw CinderError.BadRequest($"Invalid volume: Volume status must be available to {what}, but is {v.Status}" +
            (v.Status == "in-use" ? " (the volume's type does not allow multiattach)." : "."));
    }

    private bool Attached(VolumeRecord v) => Of(v).Any(d => VolumeAttrs.Str(d.Body, "attach_status") == "attached");

    /// <summary>The volume's status from its attachments: in-use while one is attached, else available.</summary>
    private async Task SettleAsync(VolumeRecord v, CancellationToken ct)
    {
        var attached = Attached(v);
        await volumes.PutAsync(v, r => r with
        {
            Status = attached ? "in-use" : r.Status is "in-use" or "attaching" or "detaching" or "reserved" ? "available" : r.Status,
            Attributes = VolumeAttrs.With(r.Attributes, a => a["attach_status"] = attached ? "attached" : "detached"),
        }, ct);
    }

    private static JsonObject Connector(JsonObject? arg) =>
        arg?["connector"] as JsonObject ?? throw CinderError.BadRequest("Invalid input received: connector is required (an object with the initiator's iqn).");

    private static string? Initiator(JsonObject? connector) => connector is null ? null : VolumeAttrs.Str(connector, "initiator")?.ToLowerInvariant();

    // ---------------------------------------------------------------- targets

    /// <summary>
    /// Makes (or finds) the attachment's target with the connector's initiator alone and fresh CHAP credentials, records
    /// the connector, and answers os-brick's iSCSI connection info.
    /// </summary>
    private async Task<JsonObject> ConnectAsync(VolumeRecord v, DocumentRecord doc, JsonObject connector, CancellationToken ct)
    {
        var initiator = Initiator(connector) ?? throw CinderError.BadRequest("Invalid input received: the connector has no initiator (only iSCSI connectors are supported).");
        if (Core.Iqn.Check(initiator) is { } why) throw CinderError.BadRequest($"Invalid input received: connector initiator: {why}");
        var iqn = IqnPrefix + $"volume-{v.Id:D}-{doc.Key}";
        // Read-only is enforced by the target, not only reported: a read-only volume or an "ro" attachment gets a LUN
        // that refuses writes (DATA PROTECT, WRITE PROTECTED) and reports the medium write-protected.
        var readOnly = v.Flag("readonly") || VolumeAttrs.Str(doc.Body, "attach_mode") == "ro";
        string user, secret;
        var existing = targets.Get(iqn);
        if (existing is { Chap: { } chap } && existing.Initiators.Contains(initiator, StringComparer.Ordinal)
            && existing.Luns.All(l => l.ReadOnly == readOnly))
        {
            user = chap.User;
            secret = targets.OpenSecret(chap);
        }
        else
        {
            if (existing is not null) await targets.DeleteAsync(iqn, ct);
            user = "cairn" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(15)).Replace('+', 'x').Replace('/', 'y');
            try
            {
                await targets.CreateAsync(new TargetSpec(iqn, [new Core.State.TargetLun(0, v.Name, ReadOnly: readOnly)], [initiator], user, secret, Portal: options.Portal,
                    Shared: v.Flag("multiattach")), ct);
            }
            catch (CairnException e) when (e.Kind == ErrorKind.Conflict)
            {
                throw CinderError.BadRequest($"Invalid volume: {e.Message}");
            }
            Log.Connected(log, v.Id, iqn, initiator);
        }
        var body = (JsonObject)doc.Body.DeepClone();
        body["connector"] = connector.DeepClone();
        body["target_iqn"] = iqn;
        body["attached_host"] ??= VolumeAttrs.Str(connector, "host");
        if (VolumeAttrs.Str(body, "attach_status") == "reserved") body["attach_status"] = "attaching";
        await PutAsync(doc, body, ct);
        if (v.Status is "available" or "reserved") await volumes.PutAsync(v, r => r with { Status = "attaching" }, ct);
        return ConnectionInfo(v, iqn, user, secret, readOnly ? "ro" : "rw");
    }

    private JsonObject ConnectionInfo(VolumeRecord v, string iqn, string user, string secret, string mode) => new()
    {
        ["driver_volume_type"] = "iscsi",
        ["data"] = new JsonObject
        {
            ["target_discovered"] = false,
            ["target_iqn"] = iqn,
            ["target_portal"] = options.Portal,
            ["target_lun"] = 0,
            ["target_iqns"] = new JsonArray(iqn),
            ["target_portals"] = new JsonArray(options.Portal),
            ["target_luns"] = new JsonArray(0),
            ["volume_id"] = v.Id.ToString("D"),
            ["auth_method"] = "CHAP",
            ["auth_username"] = user,
            ["auth_password"] = secret,
            ["encrypted"] = v.Flag("encrypted"),
            ["qos_specs"] = null,
            ["access_mode"] = v.Flag("readonly") ? "ro" : mode,
            ["discard"] = true,
            ["cacheable"] = false,
        },
    };

    /// <summary>Deletes the attachment's target (ending its sessions), if it has one.</summary>
    private async Task DisconnectAsync(DocumentRecord d, CancellationToken ct)
    {
        if (VolumeAttrs.Str(d.Body, "target_iqn") is not { } iqn) return;
        if (targets.Get(iqn) is not null) await targets.DeleteAsync(iqn, ct);
        var body = (JsonObject)d.Body.DeepClone();
        body["target_iqn"] = null;
        await PutAsync(d, body, ct);
        Log.Disconnected(log, iqn);
    }

    /// <summary>Removes every attachment of a volume and its targets (force delete).</summary>
    public async Task DetachAllAsync(VolumeRecord v, CancellationToken ct)
    {
        using (await _locks.AcquireAsync(v.Id.ToString(), ct))
        {
            foreach (var d in Of(v))
            {
                await DisconnectAsync(d, ct);
                await store.WriteAsync(w => w.DeleteDocument(Cinder.Module, Cinder.KindAttachment, d.Key), ct);
            }
        }
    }

    // ---------------------------------------------------------------- attachments API

    public async Task<DocumentRecord> CreateAttachmentAsync(CinderRequest c, VolumeRecord v, string? instance, JsonObject? connector, string mode, CancellationToken ct)
    {
        c.RequireWrite();
        CheckAttachable(v, "attach");
        using (await _locks.AcquireAsync(v.Id.ToString(), ct))
        {
            var doc = NewAttachment(v, instance, mode, "reserved");
            await store.WriteAsync(w => w.Put(doc), ct);
            if (v.Status == "available") await volumes.PutAsync(v, r => r with { Status = "reserved" }, ct);
            if (connector is not null) await ConnectAsync(volumes.Get(v.Id) ?? v, doc, connector, ct);
            return store.GetDocument(Cinder.Module, Cinder.KindAttachment, doc.Key) ?? doc;
        }
    }

    /// <summary>Gives an attachment its connector: the target and the connection info (kept on the attachment, shown by the API).</summary>
    public async Task<(DocumentRecord Doc, JsonObject Info)> UpdateAttachmentAsync(CinderRequest c, DocumentRecord d, JsonObject connector, CancellationToken ct)
    {
        c.RequireWrite();
        var v = volumes.Get(VolumeId(d)) ?? throw CinderError.NotFound($"Volume {VolumeId(d)} could not be found.");
        using (await _locks.AcquireAsync(v.Id.ToString(), ct))
        {
            var info = await ConnectAsync(v, store.GetDocument(Cinder.Module, Cinder.KindAttachment, d.Key) ?? d, connector, ct);
            return (store.GetDocument(Cinder.Module, Cinder.KindAttachment, d.Key) ?? d, info);
        }
    }

    /// <summary>The connection info of an attachment that has a target, from the target itself (its CHAP opened).</summary>
    public JsonObject? InfoOf(DocumentRecord d)
    {
        if (VolumeAttrs.Str(d.Body, "target_iqn") is not { } iqn || targets.Get(iqn) is not { Chap: { } chap }) return null;
        var v = store.GetVolume(VolumeId(d));
        return v is null ? null : ConnectionInfo(v, iqn, chap.User, targets.OpenSecret(chap), VolumeAttrs.Str(d.Body, "attach_mode") ?? "rw");
    }

    public async Task CompleteAsync(CinderRequest c, DocumentRecord d, CancellationToken ct)
    {
        c.RequireWrite();
        var v = volumes.Get(VolumeId(d)) ?? throw CinderError.NotFound($"Volume {VolumeId(d)} could not be found.");
        using (await _locks.AcquireAsync(v.Id.ToString(), ct))
        {
            var body = (JsonObject)d.Body.DeepClone();
            body["attach_status"] = "attached";
            body["attach_time"] = Cinder.Time(DateTimeOffset.UtcNow);
            await PutAsync(d, body, ct);
            await volumes.PutAsync(v, r => r with { Status = "in-use", Attributes = VolumeAttrs.With(r.Attributes, a => a["attach_status"] = "attached") }, ct);
        }
    }

    public async Task<IReadOnlyList<DocumentRecord>> DeleteAttachmentAsync(CinderRequest c, DocumentRecord d, CancellationToken ct)
    {
        c.RequireWrite();
        var v = store.GetVolume(VolumeId(d));
        using (await _locks.AcquireAsync(VolumeId(d).ToString(), ct))
        {
            await DisconnectAsync(d, ct);
            await store.WriteAsync(w => w.DeleteDocument(Cinder.Module, Cinder.KindAttachment, d.Key), ct);
            if (v is not null && v.IsVisible()) await SettleAsync(v, ct);
        }
        return v is null ? [] : Of(v);
    }

    public static Guid VolumeId(DocumentRecord d) => Guid.TryParse(VolumeAttrs.Str(d.Body, "volume_id"), out var g) ? g : Guid.Empty;

    private static partial class Log
    {
        [LoggerMessage(EventId = 3111, Level = LogLevel.Information, Message = "block storage: volume {Volume} exported as {Iqn} to {Initiator} alone, with CHAP")]
        public static partial void Connected(ILogger logger, Guid volume, string iqn, string initiator);

        [LoggerMessage(EventId = 3112, Level = LogLevel.Information, Message = "block storage: target {Iqn} removed (connection terminated)")]
        public static partial void Disconnected(ILogger logger, string iqn);
    }
}
