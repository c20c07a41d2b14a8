using Cairn.Api.BlockStorage.Model;

namespace Cairn.Api.BlockStorage.Http;

/// <summary><c>POST /volumes/{id}/action</c>: one action per body, as Cinder dispatches them.</summary>
internal static class ActionsEndpoints
{
    private static readonly HashSet<string> ResetStatuses = new(StringComparer.Ordinal)
    {
        "available", "error", "creating", "deleting", "in-use", "attaching", "detaching", "error_deleting", "maintenance",
        "reserved", "error_extending", "extending", "error_restoring", "error_managing", "downloading", "uploading", "retyping",
    };

    public static void Map(RouteGroupBuilder g)
    {
        g.MapPost("/volumes/{id}/action", async (HttpContext ctx, string id, VolumeWorkflows w, IServiceProvider sp, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            var vol = w.Require(c, CinderBody.Id(id, "Volume"));
            var body = await CinderBody.ReadAsync(ctx.Request, ct);
            if (body.Count != 1) throw CinderError.BadRequest("Invalid request body: exactly one action is expected");
            var (action, arg) = body.First();
            var o = arg as JsonObject;
            switch (action)
            {
                case "os-extend":
                    var size = CinderBody.Size(o ?? throw CinderError.BadRequest("Invalid input for field/attribute os-extend."), "new_size", required: true)!.Value;
                    await w.ExtendAsync(c, vol, size, ct);
                    return Results.StatusCode(202);
                case "os-reset_status":
                    c.RequireAdmin();
                    await ResetStatusAsync(w, vol, o ?? [], ct);
                    return Results.StatusCode(202);
                case "os-force_delete":
                    c.RequireAdmin();
                    var attach = sp.GetRequiredService<AttachWorkflows>();
                    await attach.DetachAllAsync(vol, ct);
                    await w.DeleteAsync(c, w.Get(vol.Id) ?? vol, cascade: false, force: true, ct);
                    return Results.StatusCode(202);
                case "os-update_readonly_flag":
                    c.RequireWrite();
                    var ro = CinderBody.Bool((o ?? throw CinderError.BadRequest("Invalid input for field/attribute os-update_readonly_flag."))["readonly"], "readonly")
                        ?? throw CinderError.BadRequest("Invalid input for field/attribute readonly. Value: None. None is not of type 'boolean', 'string'");
                    if (vol.Status is not ("available" or "in-use"))
                        throw CinderError.BadRequest($"Invalid volume: Volume status must be available or in-use to update its read-only flag, but is {vol.Status}.");
                    await w.SetAttributesAsync(vol, a =>
                    {
                        a["readonly"] = ro;
                        // Cinder keeps the flag as admin metadata, which volume views show among the metadata.
                        var admin = a["admin_metadata"] as JsonObject ?? [];
                        admin["readonly"] = ro ? "True" : "False";
                        a["admin_metadata"] = admin;
                    }, ct);
                    return Results.StatusCode(202);
                case "os-retype":
                    c.RequireWrite();
                    var newType = CinderBody.Text(o ?? throw CinderError.BadRequest("Invalid input for field/attribute os-retype."), "new_type")
                        ?? throw CinderError.BadRequest("Invalid input for field/attribute new_type. Value: None.");
                    var cat = sp.GetRequiredService<CinderCatalog>();
                    var t = cat.Find(newType) is { } nt && nt.VisibleTo(c.IsAdmin, c.Project) ? nt : throw CinderError.NotFound($"Volume type {newType} could not be found.");
                    if (vol.Status is not ("available" or "in-use")) throw CinderError.BadRequest($"Invalid volume: Volume status must be available or in-use to retype, but is {vol.Status}.");
                    if (vol.Flag("multiattach") && !t.Multiattach && vol.Status == "in-use")
                        throw CinderError.BadRequest("Invalid volume: an attached multiattach volume cannot be retyped to a type without multiattach.");
                    // The data would have to be re-encrypted (or decrypted): Cinder refuses that without a migration, and Cairn has none.
                    if (vol.Flag("encrypted") != (t.Encryption is not null))
                        throw CinderError.BadRequest("Invalid input received: Retype cannot change encryption requirements.");
                    // Every type lives in the one pool: a retype changes the record only (no migration to do).
                    await w.SetAttributesAsync(vol, a => { a["volume_type_id"] = t.Id; a["multiattach"] = t.Multiattach; }, ct);
                    return Results.StatusCode(202);
                case "os-unmanage":
                    c.RequireAdmin();
                    await sp.GetRequiredService<ManageWorkflows>().UnmanageAsync(c, vol, ct);
                    return Results.StatusCode(202);
                case "os-set_bootable":
                    c.RequireWrite();
                    var boot = CinderBody.Bool((o ?? throw CinderError.BadRequest("Invalid input for field/attribute os-set_bootable."))["bootable"], "bootable")
                        ?? throw CinderError.BadRequest("Invalid input for field/attribute bootable. Value: None. None is not of type 'boolean', 'string'");
                    await w.SetAttributesAsync(vol, a => a["bootable"] = boot, ct);
                    return Results.Ok();
                case "wrs-volume:os-volume_export":
                {
                    // StarlingX's client sends {"wrs-volume:os-volume_export": null}; an empty object is the same request.
                    if (arg is not null && o is not { Count: 0 }) throw CinderError.BadRequest($"Invalid input for field/attribute {action}: no parameters are taken.");
                    var exported = await sp.GetRequiredService<BackupWorkflows>().ExportVolumeAsync(c, vol, ct);
                    return Views.Json(new JsonObject { [action] = BackupAnswer(sp, exported) }, 202);
                }
                case "wrs-volume:os-volume_import":
                {
                    if (arg is not null && o is null) throw CinderError.BadRequest($"Invalid input for field/attribute {action}: an object with file_name is expected.");
                    var imported = await sp.GetRequiredService<BackupWorkflows>().ImportAsync(c, vol, o, ct);
                    return Views.Json(new JsonObject { [action] = BackupAnswer(sp, imported) }, 202);
                }
                default:
                    var handler = sp.GetRequiredService<AttachWorkflows>();
                    if (await handler.TryActionAsync(c, vol, action, o, ct) is { } r) return r;
                    throw CinderError.BadRequest($"There is no such action: {action}");
            }
        });
    }

    /// <summary>The original's answer to an export or import: the volume's id, status, size and the rest, as it listed them.</summary>
    private static JsonObject BackupAnswer(IServiceProvider sp, VolumeRecord v) => new()
    {
        ["id"] = v.Id.ToString("D"),
        ["updated_at"] = Cinder.Time(v.Updated),
        ["status"] = v.Status,
        ["display_description"] = v.Str("description"),
        ["size"] = v.Gigabytes(),
        ["volume_type"] = sp.GetRequiredService<CinderCatalog>().Get(v.Str("volume_type_id") ?? "")?.Name,
    };

    private static async Task ResetStatusAsync(VolumeWorkflows w, VolumeRecord vol, JsonObject o, CancellationToken ct)
    {
        var status = CinderBody.Text(o, "status");
        var attachStatus = CinderBody.Text(o, "attach_status");
        var migration = CinderBody.Text(o, "migration_status");
        if (status is null && attachStatus is null && migration is null)
            throw CinderError.BadRequest("Invalid input received: Must specify 'status', 'attach_status' or 'migration_status' for update.");
        if (status is not null && !ResetStatuses.Contains(status)) throw CinderError.BadRequest($"Invalid input received: Must specify a valid status, {status} is not one.");
        if (attachStatus is not null and not ("attached" or "detached"))
            throw CinderError.BadRequest($"Invalid input received: Must specify a valid attach status, {attachStatus} is not one.");
        await w.PutAsync(vol, r => r with
        {
            Status = status ?? r.Status,
            Attributes = attachStatus is null ? r.Attributes : VolumeAttrs.With(r.Attributes, a => a["attach_status"] = attachStatus),
        }, ct);
    }
}
