"""Which faces and vertices a camera sees, read off the rasterizer's z-buffer (AMVUR sec. 3.4): a face is
visible when it wins the depth test at one pixel at least, and a vertex when it is a corner of a visible face.
"""

from __future__ import annotations

import torch

from handrecon.render.rasterize import Fragments


def visible_faces(fragments: Fragments, num_faces: int) -> torch.Tensor:
    """(B, F) bool: faces that own at least one pixel."""
    B = fragments.shape[0]
    flags = torch.zeros(B * num_faces, dtype=torch.bool, device=fragments.face_idx.device)
    flags[fragments.fg_batch * num_faces + fragments.fg_face] = True
    return flags.view(B, num_faces)


def visible_vertices(fragments: Fragments, faces: torch.Tensor, num_vertices: int) -> torch.Tensor:
    """(B, V) bool: corners of the visible faces (the occlusion mask of AMVUR)."""
    faces = faces.to(device=fragments.face_idx.device, dtype=torch.long)
    vis_f = visible_faces(fragments, faces.shape[0])  # (B, F)
    B = vis_f.shape[0]
    b, f = vis_f.nonzero(as_tuple=True)
    flags = torch.zeros(B * num_vertices, dtype=torch.bool, device=vis_f.device)
    flags[(b[:, None] * num_vertices + faces[f]).reshape(-1)] = True
    return flags.view(B, num_vertices)
